"""How fast the playground answers: a real ``descend serve`` on a free port, asked over HTTP as the page asks.

- a slider move: the page asks again for the moved optimizer's path only (the other paths are unchanged and
  kept by the page), 200 steps;
- a new view (another function, start or step count): four optimizers' paths of 200 steps, asked at once
  (the page sends the four requests side by side).

Every request carries a learning rate not asked before, so no answer comes from the server's cache.

    .venv/bin/python benchmarks/playground.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.playground_server import serve

SPECS = ("adam:lr={lr}", "momentum:lr={lr_small}", "rmsprop:lr={lr}", "nesterov:lr={lr_small}")


def ask(url: str) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
    return time.perf_counter() - began


def trace_url(base: str, spec: str) -> str:
    query = {"function": "rosenbrock", "optimizer": spec, "steps": 200, "start": "-1.5,2"}
    return f"{base}api/trace?{urllib.parse.urlencode(query)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with serve() as served, ThreadPoolExecutor(4) as pool:
        base = served.url
        for k in range(3):  # warm up: imports, first kernels
            list(pool.map(ask, [trace_url(base, s.format(lr=0.01 + k, lr_small=1e-4)) for s in SPECS]))
        moves, views = [], []
        for k in range(args.repeats):
            lr, lr_small = 0.02 + 0.001 * k, 2e-4 + 1e-6 * k
            moves.append(ask(trace_url(base, f"adam:lr={lr + 0.5}")))
            urls = [trace_url(base, s.format(lr=lr, lr_small=lr_small)) for s in SPECS]
            began = time.perf_counter()
            list(pool.map(ask, urls))
            views.append(time.perf_counter() - began)

    def ms(xs: list[float]) -> str:
        xs = sorted(xs)
        median, best, worst = 1e3 * statistics.median(xs), 1e3 * xs[0], 1e3 * xs[-1]
        return f"median {median:.0f} ms, best {best:.0f} ms, worst {worst:.0f} ms"

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load} (1, 5, 15 min)")
    print(f"slider move (1 optimizer x 200 steps): {ms(moves)}")
    print(f"new view (4 optimizers x 200 steps, asked at once): {ms(views)}")


if __name__ == "__main__":
    main()
