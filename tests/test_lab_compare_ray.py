"""`descend compare --budget` on Ray: a trial whose worker is killed is run again; a run on a local Ray
killed (SIGKILL to its whole process group) resumes and ends with every trial exactly once and the earlier
lines unchanged; a run on a Ray head started here (`ray start --head`) completes, with the numbers a trial
gives in this process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from descend.data import digits
from descend.lab import trials
from descend.lab.compare import compare

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head on 127.0.0.1 with one CPU, for the module's tests; stopped after them."""
    port = _free_port()
    temp = Path("/tmp") / f"ray-test-{os.getpid()}"  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    args = [str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
            "--num-cpus", "1", "--include-dashboard", "false", "--temp-dir", str(temp),
            "--disable-usage-stats"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    address = f"127.0.0.1:{port}"
    auth = os.environ.get("RAY_AUTH_MODE")  # joining may set it (as `ray start` decides); restored after
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, "ray start --head exited"
        time.sleep(0.5)
    try:
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the head and the processes it started, in its group
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)
        if auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_on_a_ray_head_completes_with_the_numbers_of_this_process(head, tmp_path):
    result = compare("digits-mlp", ["sgd", "adam"], budget=2, epochs=1, seeds=[0], address=head,
                     out=tmp_path, progress=False)  # fmt: skip
    assert result.config["engine"].startswith(f"the Ray cluster at {head}")
    stored = _records(tmp_path / "trials.jsonl")
    assert sorted((r["optimizer"], r["trial"]) for r in stored) == [("adam", 0), ("adam", 1), ("sgd", 0),
                                                                     ("sgd", 1)]  # fmt: skip
    assert all(r["status"] == "ok" and isinstance(r["trial"], int) for r in stored)
    assert not any(r["worker"].endswith(f":{os.getpid()}") for r in stored)  # they ran on Ray's workers
    # the same trial here gives the same numbers: deterministic, whatever worker runs it
    r = stored[0]
    job = trials.Job("tuning", "digits-mlp", r["optimizer"], r["optimizer"], r["trial"], r["seed"],
                     r["hyperparameters"], 1, 64)  # fmt: skip
    here = trials.run_job(job, digits().split_validation(0.2, test=False))
    assert here["metrics"] == r["metrics"]
    assert [row["rank"] for row in result.tables["ranking"]] == [1, 2]


def test_a_killed_run_resumes_with_every_trial_once(tmp_path):
    # a local Ray, started by the command (and killed with it)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "descend", "compare", "--task", "digits-cnn", "-o", "sgd", "-o", "adam",
            "--budget", "4", "--epochs", "3", "--seeds", "1", "--workers", "1", "--no-progress",
            "--out", str(out)]  # fmt: skip
    env = {**os.environ, "MPLBACKEND": "Agg", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    path = out / "trials.jsonl"

    def wait_for(lines: int) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if path.is_file() and len(path.read_text().splitlines()) >= lines:
                return
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]

    # first the worker alone dies in the middle of a trial: Ray runs that trial again on a new worker
    wait_for(1)
    worker = int(_records(path)[0]["worker"].rsplit(":", 1)[1])  # the one worker, running the next trial
    os.kill(worker, signal.SIGKILL)
    wait_for(3)
    assert worker not in {int(r["worker"].rsplit(":", 1)[1]) for r in _records(path)[1:]}
    os.killpg(proc.pid, signal.SIGKILL)  # then the driver, and whatever it started in its group
    proc.wait()
    before = path.read_bytes()
    done = before.count(b"\n")
    assert 3 <= done < 8, f"{done} trials finished before the kill; the test needs it killed half way"
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    after = path.read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])  # the earlier lines, unchanged
    stored = _records(path)
    keys = [(r["optimizer"], r["trial"]) for r in stored]
    assert sorted(keys) == sorted((o, k) for o in ("sgd", "adam") for k in range(4))  # each exactly once
    ran = [line for line in again.stderr.splitlines() if " trial " in line]
    assert len(ran) == 8 - done  # the finished trials were read back, not run again
    assert (out / "report.html").is_file() and (out / "ranking.csv").is_file()
