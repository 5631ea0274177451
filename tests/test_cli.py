"""The command line as a person uses it: mistakes found before any work, one short message, exit status 2,
no traceback, nothing written; the optimizer written the same way everywhere; output folders never shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from descend.cli import main
from descend.files import MANIFEST, claim_folder


def descend(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """The command in a fresh process, as a person runs it."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "descend", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def read_only_folder(tmp_path: Path) -> Path:
    """A folder nothing can be written into (root ignores permission bits, so then a sysfs folder)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# The mistakes the command line must catch, each run in a process of its own as a person would run it.
MISTAKES = [
    (["trace", "rosenbrok", "-o", "adam"], "did you mean rosenbrock"),  # a function
    (["trace", "rosenbrock", "-o", "adamm"], "did you mean adam"),  # an optimizer
    (["compare", "--task", "digitz-cnn"], "did you mean digits-cnn"),  # a task
    (["experiment", "momentun"], "did you mean momentum"),  # an experiment
    (["trace", "rosenbrock", "-o", "adam:foo=1"], "'foo'"),  # an option (not "Adam.__init__()")
    (["trace", "rosenbrock", "-o", "adam:lr=abc"], "Invalid lr: 'abc'"),  # a value
    (["trace", "rosenbrock", "-o", "adam", "--out", "paths.docx"], "paths.docx"),  # a suffix
    (["compare", "--task", "airfoil", "--data", "missing.dat"], "missing.dat"),  # a data file
    (["trace", "rosenbrock", "-o", "adam", "--steps", "0"], "--steps"),  # step counts
    (["trace", "rosenbrock", "-o", "adam", "--steps", "100000000000"], "--steps"),
    (["compare", "--epochs", "0"], "--epochs"),
]
# More of the same, run in this process (click's runner) to keep the suite fast.
MORE_MISTAKES = [
    (["trace", "rosenbrock", "-o", "adam:betas=(1.5,0.9)"], "Invalid beta parameter at index 0: 1.5"),
    (["trace", "rosenbrock", "-o", "adam", "--steps", "-3"], "--steps"),
    (["trace", "rosenbrock", "-o", "gd", "--set", "momentum=0.9"], "'momentum': no optimizer given takes it"),
    (["sweep", "rosenbrock", "-o", "momentum", "--lr", "abc"], "--lr"),
    (["sweep", "rosenbrock", "-o", "momentum", "--lr", "0.1:0.2:3", "--grid", "foo=0:1:3"], "'foo'"),
    (["sweep", "rosenbrock", "-o", "momentun", "--lr", "0.1:0.2:3"], "did you mean momentum"),
    (["sweep", "rosenbrock", "--lr", "0.1:0.2:3", "--out", "map.txt"], "map.txt"),
    (["compare", "-o", "adamm"], "did you mean adam"),
    (["compare", "-o", "adam:foo=1"], "'foo'"),
    (["compare", "--budget", "1", "--address", "10.0.0.5"], "expected HOST:PORT"),  # a Ray address
    (["compare", "--budget", "1", "--address", "127.0.0.1:1"], "nothing answers there"),
    (["experiment", "momentum", "--data", "missing.dat"], "missing.dat"),
    (["functions", "rosenbrok"], "did you mean rosenbrock"),
    (["tour", "--section", "gd-2d"], "did you mean gd-1d"),
    (["schedule", "cosin", "--base-lr", "1", "--max-steps", "5"], "did you mean cosine"),
]


def _check_mistake(code: int, out: str, err: str, words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err + out
    assert "__init__" not in err
    assert words in err, err
    assert err.strip().splitlines()[-1].startswith("Error:")


def test_a_mistake_is_one_message_and_status_2_with_nothing_written(tmp_path):
    folders = [tmp_path / str(k) for k in range(len(MISTAKES))]
    for folder in folders:
        folder.mkdir()
    # two processes at a time: the cases are independent
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda k: descend(*MISTAKES[k][0], cwd=folders[k]), range(len(MISTAKES))))
    for (args, words), folder, result in zip(MISTAKES, folders, results, strict=True):
        _check_mistake(result.returncode, result.stdout, result.stderr, words)
        assert list(folder.iterdir()) == [], args  # found before any work: nothing written


@pytest.mark.parametrize(
    ("args", "words"), MORE_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_more_mistakes(tmp_path, args, words):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as cwd:
        result = runner.invoke(main, args)
        _check_mistake(result.exit_code, result.stdout, result.stderr, words)
        assert os.listdir(cwd) == []


def test_an_output_that_cannot_be_written_is_found_before_any_work(tmp_path):
    locked = read_only_folder(tmp_path)
    result = descend("compare", "--task", "diabetes", "--out", str(locked), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert str(locked) in result.stderr and "cannot be written" in result.stderr, result.stderr
    runner = CliRunner()
    for args in (["experiment", "linear-regression", "--out", str(locked / "sub")],
                 ["trace", "quadratic", "-o", "gd", "--out", str(locked / "t.png")],
                 ["tour", "--section", "gd-1d", "--out", str(locked / "tour")]):  # fmt: skip
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and str(locked) in result.stderr and "cannot be" in result.stderr, args


def run(*args: str, cwd: Path) -> Result:
    """The command in this process (click's runner), in the folder ``cwd``."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)


def test_the_optimizer_is_written_the_same_way_in_trace_sweep_and_compare(tmp_path):
    text = "adam:lr=0.1,betas=(0.8,0.99)"
    trace = run("trace", "ill_conditioned", "-o", text, "--steps", "15", "--out", "t.png", cwd=tmp_path)
    assert trace.exit_code == 0, trace.output
    _, _, row = trace.stdout.splitlines()[:3]
    assert row.split()[:2] == [text, "0.1"]
    assert text in Image.open(tmp_path / "t.png").text["Description"]  # the figure records what was given
    sweep = run("sweep", "ill_conditioned", "-o", "adam:betas=(0.8,0.99)", "--lr", "0.01,0.1,0.3",
                "--steps", "30", "--out", "s.png", cwd=tmp_path)  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    assert sweep.stdout.splitlines()[2].split()[:2] == ["adam:betas=(0.8,0.99)", "3"]
    assert "adam:betas=(0.8,0.99)" in Image.open(tmp_path / "s.png").text["Description"]
    compare = run("compare", "--task", "diabetes", "-o", "adam:lr=0.01,betas=(0.8,0.99)", "-o", "sgd",
                  "--epochs", "1", "--seeds", "1", "--no-progress", "--out", "c", cwd=tmp_path)  # fmt: skip
    assert compare.exit_code == 0, compare.output
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["given"]["optimizers"] == ["adam:lr=0.01,betas=(0.8,0.99)", "sgd"]
    assert config["optimizers"]["adam:lr=0.01,betas=(0.8,0.99)"] == {"lr": 0.01, "betas": [0.8, 0.99]}


def test_two_runs_started_at_once_never_share_a_folder(tmp_path):
    args = ["compare", "--task", "diabetes", "-o", "sgd", "--epochs", "1", "--seeds", "1", "--no-progress"]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "descend", *args]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, **pipes) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    folders = sorted(tmp_path.iterdir())
    assert len(folders) == 2
    reported = sorted(out.strip().splitlines()[-1].removeprefix("Folder: ") for out, _ in outs)
    assert reported == sorted(str(f.relative_to(tmp_path)) for f in folders)
    for folder in folders:
        assert (folder / "report.html").is_file() and (folder / "summary.csv").read_text().count("\n") == 2


def test_claims_in_the_same_second_get_their_own_folders(tmp_path):
    now = datetime(2024, 5, 6, 7, 8, 9)
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(claim_folder(None, "run", root=tmp_path, now=now)))
               for _ in range(12)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 12
    assert sorted(p.name for p in got)[:2] == ["run-20240506-070809", "run-20240506-070809-10"]


def test_a_rerun_into_the_same_folder_replaces_the_earlier_run_and_never_mixes(tmp_path):
    first = run("tour", "--section", "gd-1d", "--out", "t", "--no-progress", cwd=tmp_path)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "t" / "figures").iterdir()) == ["06-gd-1d.png"]
    second = run("tour", "--section", "saddle-1d", "--out", "t", "--no-progress", cwd=tmp_path)
    assert second.exit_code == 0, second.output
    assert sorted(p.name for p in (tmp_path / "t" / "figures").iterdir()) == ["02-saddle-1d.png"]
    assert "saddle-1d" in (tmp_path / "t" / "tour.html").read_text()
    assert "06-gd-1d" not in (tmp_path / "t" / MANIFEST).read_text()
    # a folder holding anything else is refused, and left as it was
    (tmp_path / "t" / "notes.txt").write_text("mine")
    third = run("tour", "--section", "gd-1d", "--out", "t", "--no-progress", cwd=tmp_path)
    assert third.exit_code == 2 and "notes.txt" in third.stderr
    assert (tmp_path / "t" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "t" / "figures").iterdir()) == ["02-saddle-1d.png"]
