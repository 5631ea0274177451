"""The package face: every public submodule after a plain `import descend` (lazily), functions not shadowed
by modules, py.typed in the wheel. Each check runs in a fresh interpreter, where nothing was imported yet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import descend

ROOT = Path(__file__).resolve().parents[1]


def fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON value as its last line."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_plain_import_reaches_every_submodule_lazily():
    got = fresh(
        "import json, sys\n"
        "import descend\n"
        "before = sorted(m for m in sys.modules if m.startswith(('descend.', 'torch')))\n"
        "adam = descend.optim.Adam.__name__\n"
        "reached = {n: type(getattr(descend, n)).__name__ for n in descend.SUBMODULES}\n"
        "print(json.dumps({'before': before, 'adam': adam, 'reached': reached, 'dir': dir(descend)}))"
    )
    assert (
        got["before"] == []
    )  # `import descend` (and so the command line) imports neither torch nor a submodule
    assert got["adam"] == "Adam"
    assert set(got["reached"]) == set(descend.SUBMODULES) and set(got["reached"].values()) == {"module"}
    assert set(descend.SUBMODULES) <= set(got["dir"])
    assert {"minimize", "sweep", "Result", "SweepResult", "Status"} <= set(got["dir"])


def test_functions_stay_functions_whatever_was_imported():
    got = fresh(
        "import json\n"
        "import descend._minimize, descend._sweep, descend.lab.tour_methods\n"
        "import descend\n"
        "from descend import minimize, sweep\n"
        "print(json.dumps([type(descend.minimize).__name__, type(descend.sweep).__name__,"
        " minimize is descend.minimize, descend.Result.__name__]))"
    )
    assert got == ["function", "function", True, "Result"]


def test_no_public_module_shares_its_name_with_a_function():
    names = {p.stem for p in (ROOT / "src" / "descend").glob("*.py")} | {
        p.name for p in (ROOT / "src" / "descend").iterdir() if p.is_dir()
    }
    assert not {"minimize", "sweep"} & names
    assert descend.__getattr__("minimize").__module__ == "descend._minimize"


def test_unknown_attribute_is_an_attribute_error():
    try:
        descend.nothing_here  # noqa: B018
    except AttributeError as e:
        assert "nothing_here" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_the_wheel_carries_py_typed(tmp_path):
    for part in ("src", "pyproject.toml", "README.md"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*command, "-w", str(tmp_path / "dist"), str(tmp_path)], check=True, capture_output=True, timeout=300
    )
    (wheel,) = (tmp_path / "dist").glob("descend-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "descend/py.typed" in names
    assert "descend/lab/spec.py" in names and "descend/cli/__init__.py" in names
