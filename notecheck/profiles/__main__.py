"""``python -m notecheck.profiles validate [NAME ...]``: load profiles, run their rule examples."""

import sys

from notecheck.profiles import validate

args = sys.argv[1:]
if not args or args[0] != "validate":
    sys.exit("usage: python -m notecheck.profiles validate [NAME ...]")
found = validate(tuple(args[1:]))
print("\n".join(found) or "all profiles valid; every rule example behaves")
sys.exit(1 if found else 0)
