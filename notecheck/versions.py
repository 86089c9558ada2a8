"""The installed versions of everything notecheck needs at run time (its dependency closure).

Recorded in the model's meta and card when it is trained, and printed by ``notecheck versions``
as ``name==version`` lines a deployment can audit (``pip-audit -r``) where an advisory
database is reachable.
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_versions(root: str = "notecheck") -> dict[str, str]:
    """``{distribution: version}`` for ``root``'s run-time requirements, transitively.

    Extras (the test tools) are left out; a requirement that is not installed is skipped, since
    its marker or an optional path made it unnecessary here.
    """
    seen: dict[str, str] = {}
    pending = [root]
    while pending:
        name = _canonical(pending.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist.version
        for line in dist.requires or ():
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    seen.pop(_canonical(root), None)
    return dict(sorted(seen.items()))
