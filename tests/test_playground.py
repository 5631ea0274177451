"""descend serve: the playground's API against descend.minimize, sweep and schedules; its refusals; the
command's start, stop and mistakes. The page itself is tested in a browser in test_playground_browser.py."""

from __future__ import annotations

import math
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tests.playground_server import serve

from descend import functions, minimize, optim, schedules
from descend._loop import optimizer_arguments
from descend.analysis import converges
from descend.cli import main
from descend.lab.playground import api, controls

STATIC = Path(api.__file__).parent / "static"


@pytest.fixture(scope="module")
def server():
    with serve() as served:
        yield served


def _same(got: list, want: torch.Tensor) -> bool:
    """JSON numbers against a tensor, exactly (JSON's null stands for a non-finite number)."""
    got_t = torch.tensor([[math.nan if v is None else v for v in row] for row in got], dtype=torch.float64)
    want = want.reshape(len(want), -1).to(torch.float64)
    finite = torch.isfinite(want)
    return got_t.shape == want.shape and bool((got_t[finite] == want[finite]).all())


CASES = [
    ("quadratic", "sgd:lr=0.1", 50, "-5,-2", {"lr": 0.1}),
    ("rosenbrock", "adam:lr=0.05,betas=(0.8,0.99)", 200, "-1.5,2", {"lr": 0.05, "betas": (0.8, 0.99)}),
    ("himmelblau", "nesterov:lr=0.01,momentum=0.5", 80, "0.5,-3", {"lr": 0.01, "momentum": 0.5}),
    ("xcos", "momentum:lr=0.3", 40, "2.5", {"lr": 0.3}),
    ("beale", "adan:lr=0.02,betas=(0.9,0.9,0.95)", 60, None, {"lr": 0.02, "betas": (0.9, 0.9, 0.95)}),
    ("booth", "lbfgs:lr=1,history_size=5", 5, "-4,4", {"lr": 1, "history_size": 5}),
    ("rosenbrock", "gd-armijo:c1=0.001", 30, None, {"c1": 0.001}),
    ("cosh", "newton:lr=1.0", 6, "2", {"lr": 1.0}),
    ("quadratic", "prodigy:growth_rate=inf,d0=0.001", 30, None, {"growth_rate": math.inf, "d0": 0.001}),
    ("rastrigin", "adafactor:lr=0.1,eps=(None,0.01),beta2_decay=-0.5", 30, None,
     {"lr": 0.1, "eps": (None, 0.01), "beta2_decay": -0.5}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "steps", "start", "options"), CASES, ids=[c[1] for c in CASES])
def test_trace_is_the_path_of_descend_minimize(server, name, text, steps, start, options):
    query = {"function": name, "optimizer": text, "steps": steps} | ({"start": start} if start else {})
    status, body = server.get("/api/trace", **query)
    assert status == 200, body
    f = functions.get(name)
    x0 = [float(v) for v in start.split(",")] if start else list(f.start)
    r = minimize(f, x0, text.split(":")[0], steps=steps, **options)
    assert body["path"][0] == x0
    assert _same(body["path"], r.path)
    assert _same([[v] for v in body["values"]], r.values)
    assert body["status"] == str(r.status) and body["nit"] == r.nit


def test_a_schedule_multiplies_the_lr_of_every_step(server):
    status, body = server.get(
        "/api/trace", function="quadratic", optimizer="momentum:lr=0.05", steps=60,
        schedule="cosine:max_steps=40,final_lr=0.1",
    )  # fmt: skip
    assert status == 200, body
    sched = schedules.cosine(1.0, max_steps=40, final_lr=0.1)
    r = minimize(functions.get("quadratic"), [-5.0, -2.0], "momentum", steps=60, lr=0.05, schedule=sched)
    assert _same(body["path"], r.path)
    status, body = server.get("/api/schedule", schedule="cosine:max_steps=40,final_lr=0.1", steps=50)
    assert status == 200 and body["values"] == sched(torch.arange(50)).tolist()


def test_every_optimizer_runs_on_a_point_or_says_why_not(server):
    status, cat = server.get("/api/catalogue")
    assert status == 200
    entries = {o["name"]: o for o in cat["optimizers"]}
    assert set(optim.names()) | set(api.METHODS) == set(entries)
    refused = {n for n, o in entries.items() if not o["available"]}
    assert refused == {"muon", "sparse-adam"}
    assert "2D parameters" in entries["muon"]["reason"] and "sparse" in entries["sparse-adam"]["reason"]
    for name, entry in entries.items():
        status, body = server.get("/api/trace", function="six_hump_camel", optimizer=name, steps=3)
        if entry["available"]:
            assert status == 200 and len(body["path"]) >= 2, (name, body)
        else:
            assert status == 400 and body["error"] == entry["reason"] + f" (in {name!r})"


def test_controls_come_from_each_optimizers_own_defaults():
    cat = api.catalogue()
    for entry in cat["optimizers"]:
        if entry["name"] not in optim.names():
            continue
        cls, implied = optim.resolve(entry["name"])
        defaults = {**optimizer_arguments(cls), **implied}
        got = {c["key"]: c["default"] for c in entry["controls"]}
        assert set(got) == set(defaults) - controls.HIDDEN, entry["name"]
        for key, value in got.items():
            want = defaults[key]
            want = list(want) if isinstance(want, tuple) else want
            assert value == ("inf" if want == math.inf else want), (entry["name"], key)
    by_name = {e["name"]: {c["key"]: c for c in e["controls"]} for e in cat["optimizers"]}
    assert [c["default"] for c in by_name["adan"]["betas"]["items"]] == [0.98, 0.92, 0.99]
    assert by_name["adam"]["betas"]["kind"] == "tuple" and len(by_name["adam"]["betas"]["items"]) == 2
    decay = by_name["adafactor"]["beta2_decay"]
    assert decay["kind"] == "linear" and decay["min"] < decay["default"] < decay["max"] <= 0
    assert by_name["momentum"]["momentum"]["default"] == 0.9  # the name's own setting
    assert by_name["sgd"]["weight_decay"]["zero"] and by_name["sgd"]["lr"]["kind"] == "log"
    assert by_name["prodigy"]["growth_rate"]["inf"] and by_name["prodigy"]["beta3"]["optional"]
    assert by_name["lbfgs"]["line_search_fn"]["options"] == [None, "strong_wolfe"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"function": "rosenbrok", "optimizer": "adam"}, "Invalid function: 'rosenbrok'; did you mean"),
        ({"function": "rosenbrock", "optimizer": "adamm"}, "Invalid optimizer: 'adamm'"),
        ({"function": "rosenbrock", "optimizer": "adam:lr=-1"}, "Invalid learning rate: -1"),
        ({"function": "rosenbrock", "optimizer": "adam:betas=(0.9,1.5)"}, "beta"),
        ({"function": "rosenbrock", "optimizer": "adam:gamma=2"}, "Invalid setting of adam: 'gamma'"),
        ({"function": "rosenbrock", "optimizer": "adam", "steps": 10_001}, "Invalid steps: 10001"),
        ({"function": "rosenbrock", "optimizer": "adam", "steps": "ten"}, "Invalid steps: 'ten'"),
        ({"function": "rosenbrock", "optimizer": "adam", "start": "1,2,3"}, "Invalid start: '1,2,3'"),
        ({"function": "rosenbrock", "optimizer": "adam", "start": "nan,1"}, "Invalid start"),
        ({"function": "rosenbrock"}, "Missing optimizer"),
        ({"function": "rosenbrock", "optimizer": "adam", "lr": 1}, "Invalid query parameter 'lr'"),
        ({"function": "rosenbrock", "optimizer": "sgd", "schedule": "cosine:max_step=3"}, "max_step"),
        ({"function": "rosenbrock", "optimizer": "sparse-adam"}, "sparse gradients only"),
    ],
)
def test_a_bad_request_is_a_4xx_with_one_line(server, query, fragment):
    status, body = server.get("/api/trace", **query)
    assert status == 400
    assert fragment in body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]


def test_an_unknown_route_is_a_404_in_json(server):
    status, body = server.get("/api/nothing")
    assert status == 404 and body["error"].endswith("/api/nothing")


def test_the_server_listens_on_loopback_only_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
    port = server.url.rstrip("/").rsplit(":", 1)[1]
    with socket.socket() as s:
        s.settimeout(2)
        others = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
        if others:  # the machine's own address does not answer
            assert s.connect_ex((others[0], int(port))) != 0


def test_stability_map_beside_theory(server):
    status, s = server.get("/api/stability", function="ill_conditioned", steps=200)
    assert status == 200 and s["applies"]
    lam = torch.tensor(s["eigenvalues"], dtype=torch.float64)
    assert s["lmax"] == pytest.approx(float(lam.max()))
    lr = torch.tensor(s["lr"], dtype=torch.float64)
    beta = torch.tensor(s["momentum"], dtype=torch.float64)
    predicted = converges(lr[:, None], beta[None, :], lam)
    gap = torch.tensor([[math.inf if v is None else v for v in row] for row in s["gap"]], dtype=torch.float64)
    measured = gap < s["start_gap"]
    # away from the boundary (where 200 steps may not yet show the side), theory and the runs agree
    margin = ((lr[:, None] * s["lmax"]) / (2 + 2 * beta[None, :]) - 1).abs() > 0.15
    assert bool(margin.any()) and bool((predicted == measured)[margin].all())
    assert not bool(predicted[:, 0].all()) and bool(predicted[0].all())
    status, s = server.get("/api/stability", function="rosenbrock")
    assert status == 200 and not s["applies"] and "not a quadratic" in s["reason"]


def test_every_function_has_a_picture():
    for name in functions.names():
        f = functions.get(name)
        picture = api.landscape(name)
        assert picture["dim"] == f.dim and picture["start"] == list(f.start)
        if f.dim == 1:
            assert len(picture["curve"]["x"]) == len(picture["curve"]["y"]) == 400
        else:
            segments = [s for level in picture["contours"]["levels"] for s in level["segments"]]
            assert len(segments) >= 5, name
    assert api.landscape("quadratic")["eigenvalues"] == [2.0, 4.0]


def test_the_page_loads_nothing_from_elsewhere():
    # the page's files name no other host (the SVG namespace is a name, not a request)
    for path in STATIC.iterdir():
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path.name


def test_ctrl_c_stops_the_server_cleanly():
    with serve() as served:
        status, body = served.get("/api/schedule", schedule="exponential:rate=0.5", steps=2)
        assert status == 200 and body["values"] == [1.0, math.exp(-0.5)]
        served.process.send_signal(signal.SIGINT)
        out, err = served.process.communicate(timeout=30)
    assert served.process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_a_port_in_use_is_a_mistake():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port), "--no-browser"])
    assert result.exit_code == 2
    assert f"127.0.0.1:{port} is in use; choose another with --port" in result.output
    assert "Traceback" not in result.output


def test_serve_is_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "descend", "serve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--no-browser" in out.stdout and "--host" in out.stdout
