"""The wheel carries everything a check needs: rules, page and the trained model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    in_tree_build = ROOT / "build"
    leave_alone = in_tree_build.exists()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        cwd=build,
        capture_output=True,
    )
    if not leave_alone:  # setuptools builds in the checkout; do not leave it there
        shutil.rmtree(in_tree_build, ignore_errors=True)
    return next(out.glob("notecheck-*.whl"))


def test_the_wheel_ships_the_model_and_the_rules(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("model.skops", "manifest.json", "meta.json"):
        assert f"notecheck/models/il132/{needed}" in names
    for profile in ("il132", "ok-t1017", "ca-sf-tcm", "ca-la-sapc", "csc"):
        assert f"notecheck/profiles/{profile}/profile.toml" in names
        assert f"notecheck/profiles/{profile}/rules.toml" in names
    assert "notecheck/web/index.html" in names


def test_an_installed_wheel_checks_a_note_without_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    script = (
        "import notecheck, notecheck.model as m\n"
        "from notecheck import check\n"
        "r = check('Drove clt to the DHS office (20 min) and waited in the lobby 40 min.')\n"
        "ok = check('Mbr resides at Sunrise Nursing Center; met w/ mbr to plan a move (30 min).',"
        " profile='ok-t1017')\n"
        "print(notecheck.__file__, m.default_model_dir(), r.label, r.time.units_supported,"
        " ok.profile, ok.label)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    ).stdout.split()
    assert shown[0].startswith(str(target)) and shown[1].startswith(str(target))
    assert shown[2:] == ["NON-BILLABLE", "0", "ok-t1017", "NON-BILLABLE"]
