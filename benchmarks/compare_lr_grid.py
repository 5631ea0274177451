"""Choose `descend compare`'s default learning rates: a grid search per task and optimizer.

For each task and optimizer, every learning rate of the grid is run with seeds 0 and 1 at the task's
default epochs and batch size; the learning rate with the lowest median final test loss wins (a diverged
run counts as infinite loss). Prints a Markdown table per task and the winners as a Python dict.

Usage: .venv/bin/python benchmarks/compare_lr_grid.py [TASK ...]   (default: digits-cnn digits-mlp diabetes)
"""

from __future__ import annotations

import math
import sys
import time

from descend.lab.compare import DEFAULT_OPTIMIZERS, TASKS, compare

GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
SEEDS = (0, 1)


def search(task: str) -> dict[str, float]:
    best: dict[str, float] = {}
    print(
        f"\n### {task} ({TASKS[task].epochs} epochs, batch {TASKS[task].batch_size}, seeds {list(SEEDS)})\n"
    )
    print("| optimizer | " + " | ".join(f"η = {lr:g}" for lr in GRID) + " | best η |")
    print("|---|" + "---:|" * (len(GRID) + 1))
    for name in DEFAULT_OPTIMIZERS:
        losses = []
        for lr in GRID:
            result = compare(task, [name], lrs={name: lr}, seeds=SEEDS, progress=False)
            row = result.rows[0]
            loss = row.get("test_loss", row.get("train_loss"))
            losses.append(loss if row["status"] == "ok" and math.isfinite(loss) else math.inf)
        k = min(range(len(GRID)), key=lambda i: losses[i])
        best[name] = GRID[k]
        cells = " | ".join("diverged" if math.isinf(v) else f"{v:.4f}" for v in losses)
        print(f"| {name} | {cells} | {GRID[k]:g} |", flush=True)
    return best


def main() -> None:
    tasks = sys.argv[1:] or ["digits-cnn", "digits-mlp", "diabetes"]
    tic = time.perf_counter()
    winners = {task: search(task) for task in tasks}
    print(f"\nwinners = {winners}")
    print(f"({time.perf_counter() - tic:.0f} s)")


if __name__ == "__main__":
    main()
