"""The report of ``descend compare`` (:mod:`descend.lab.compare`): the protocol in words, the ranking,
the summary per task and optimizer, curves with their spread over seeds (interactive in the HTML page,
images for Markdown), the performance profile over several tasks, and every trial and run as a table.
Everything here is computed from the records of the jobs (what ``trials.jsonl`` and ``runs.jsonl`` hold).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from descend import plot
from descend.history import History
from descend.lab import ranking, spec
from descend.lab.study import Panel, Study, band_curves

if TYPE_CHECKING:
    from descend.lab.compare import Plan

__all__ = ["study"]

_COLUMNS = (
    "task", "optimizer", "lr", "hyperparameters", "reached", "steps_to_target", "seconds_to_target",
    "val_loss", "val_acc", "train_loss", "test_loss", "test_loss min", "test_loss max", "test_acc",
    "test_acc min", "test_acc max", "val_loss min", "val_loss max", "seconds", "steps_per_s", "status",
)  # fmt: skip


def _spec(name: str, hyper: Mapping[str, Any]) -> str:
    from descend import optim

    implied = optim.resolve(name)[1]
    shown = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items() if implied.get(k) != v}
    return spec.format(name, shown)


_HOW = ("Ranked by score: the normalized area under each optimizer's performance profile over "
        "1 ≤ τ ≤ {tau:g} (1: the fastest to the validation target on every task; 0: never within {tau:g}× "
        "the fastest), time to target in {by} as the median over the final runs' seeds (reached when half "
        "the seeds reach it); equal scores by the mean rank of the median final validation loss. Computed "
        "from the records of the final runs (runs.jsonl).")


def _run_row(r: Mapping[str, Any], target: ranking.Target) -> dict[str, Any]:
    m = {k: (math.nan if v is None else v) for k, v in r["metrics"].items()}
    reached = ranking.time_to_target(r["history"]["records"], target)
    seconds = float(r["seconds"])
    return {
        "task": r["task"], "optimizer": r["optimizer"], "seed": r["seed"], **m,
        "steps_to_target": reached[0] if reached else math.inf,
        "seconds_to_target": reached[1] if reached else math.inf,
        "seconds": seconds, "steps": r["steps"],
        "steps_per_s": r["steps"] / seconds if seconds > 0 else math.nan,
        "status": "ok" if r["status"] == "ok" else "diverged",
        **({"message": r["message"]} if r["status"] != "ok" else {}),
    }  # fmt: skip


def _trial_row(r: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {
        "task": r["task"], "optimizer": r["optimizer"], "trial": r["trial"], "seed": r["seed"],
        "hyperparameters": _spec(name, r["hyperparameters"]),
        "validation": math.nan if r["validation"] is None else r["validation"],
        **{k: (math.nan if v is None else v) for k, v in r["metrics"].items() if k.startswith("val_")},
        "seconds": r["seconds"], "status": r["status"],
    }  # fmt: skip


_CURVES = (
    # name, x, y, axis labels, caption
    ("loss_vs_epoch", "epoch", "train_loss", "training loss", "Training loss against epochs."),
    ("val_loss_vs_epoch", "epoch", "val_loss", "validation loss", "Validation loss against epochs."),
    ("val_loss_vs_seconds", "seconds", "val_loss", "validation loss",
     "Validation loss against training time (evaluation not counted)."),
    ("test_loss_vs_epoch", "epoch", "test_loss", "test loss", "Test loss against epochs."),
    ("accuracy_vs_epoch", "epoch", "val_acc", "validation accuracy", "Validation accuracy against epochs."),
    ("lr_vs_epoch", "epoch", "lr", "learning rate",
     "Learning rate of each optimizer (first parameter group)."),
)  # fmt: skip


def _panels(task: str, prefix: str, histories: dict[str, list[History]], seeds: int) -> list[Panel]:
    from descend.plot.interactive import band_chart

    tag = f" ({task}; median and range of {seeds} seeds)" if seeds > 1 else f" ({task})"
    out = []
    for name, x, y, ylabel, caption in _CURVES:
        curves = band_curves(histories, x, y)
        if not curves or not any(len(c[0]) for c in curves.values()):
            continue
        xlabel = "seconds (training only)" if x == "seconds" else x
        title = f"{ylabel.capitalize()} against {x}{tag}"
        log_y = False if y.endswith("acc") else None
        medians = {k: np.stack([c[0], c[1]], axis=1) for k, c in curves.items()}
        bands = {k: (c[0], c[2], c[3]) for k, c in curves.items()}
        fig = plot.loss_curves(medians, xlabel=xlabel, ylabel=ylabel, log_y=log_y, title=title, bands=bands)
        chart = band_chart(f"chart-{prefix}{name}", curves, xlabel=xlabel, ylabel=ylabel, title=title,
                           log_y=False if log_y is False else None)  # fmt: skip
        band = " The band is the range over the seeds, the line their median." if seeds > 1 else ""
        out.append(Panel(fig, caption + band, name=f"{prefix}{name}", html=chart))
    return out


def _profile_panel(times: dict[str, dict[str, float]], by: str) -> tuple[Panel, list[dict[str, Any]]]:
    from descend.plot.interactive import step_chart

    taus = np.linspace(1.0, ranking.TAU_MAX, 61)
    prof = ranking.profile(times, taus)
    rows = [{"tau": float(t), **{o: float(v[i]) for o, v in prof.items()}} for i, t in enumerate(taus)]
    title = f"Performance profile over {len(times)} tasks ({by} to target)"
    curves = {o: np.stack([taus, v], axis=1) for o, v in prof.items()}
    fig = plot.loss_curves(curves, xlabel="τ (ratio to the best time)", ylabel="fraction of tasks",
                           log_y=False, title=title)  # fmt: skip
    xlabel = "τ (ratio to the best time)"
    chart = step_chart("chart-performance_profile", {o: (taus, v) for o, v in prof.items()}, xlabel=xlabel,
                       ylabel="fraction of tasks", title=title)  # fmt: skip
    caption = (f"ρ(τ): the fraction of tasks on which an optimizer reaches the target within τ times the "
               f"fastest optimizer's {by}. Higher and further left is better.")  # fmt: skip
    return Panel(fig, caption, name="performance_profile", html=chart), rows


def _protocol(plan: Plan, where: str) -> list[str]:
    targets = "; ".join(f"{w.task.name}: {w.target.describe()}" for w in plan.workloads)
    split = (f"{plan.validation:.0%} of each task's training examples (a fixed, seeded draw) are held out "
             f"as the validation split; every run trains on the rest.")  # fmt: skip
    finals = (f"Final runs: seeds {plan.seeds} (each seed gives every optimizer the same initial model and "
              f"the same minibatches); only these runs are evaluated on the test split.")  # fmt: skip
    ranked = f"Targets (on the validation split): {targets}. Where the jobs ran: {where}."
    if plan.budget is None:
        from descend.lab.tasks import DEFAULT_LR

        tuned = ("The hyperparameters were NOT tuned: each optimizer ran with the given or default settings "
                 "(descend.lab.tasks).")  # fmt: skip
        if any(w.task.name in DEFAULT_LR for w in plan.workloads):
            tuned += (" The default learning rates of the chapter's tasks were chosen on the test loss of "
                      "seeds 0 and 1 (benchmarks/compare_lr_grid.py), so their test numbers are optimistic.")
        tuned += " Run with --budget N for a fair comparison."
        return [tuned, split, finals, ranked]
    tuned = (f"Tuning: every optimizer had the same budget, {plan.budget} trials of quasi-random search "
             f"(scrambled Sobol points) over its search space (the table \"Tuning\" below), each scored by "
             f"its final validation loss; the best trial's configuration is the one reported. Trial k runs "
             f"on seed k.")  # fmt: skip
    return [tuned, split, finals, ranked]


def study(
    plan: Plan,
    trials: Mapping[tuple, Mapping[str, Any]],
    best: Mapping[tuple[str, str], Any] | None,
    runs: Mapping[tuple, Mapping[str, Any]],
    seconds: float,
    where: str,
    command: str,
) -> Study:
    """The :class:`Study` of a finished comparison, from the records of its trials and final runs."""
    several = len(plan.workloads) > 1
    summaries, rows, run_rows, panels, histories = {}, [], [], [], {}
    for w in plan.workloads:
        name = w.task.name
        mine = [r for (_, t, _, _), r in runs.items() if t == name]
        summary = ranking.summarize(mine, w.target)
        for row in summary:
            r0 = next(r for r in mine if r["optimizer"] == row["optimizer"])
            entry = next(e for e in w.entries if e.label == row["optimizer"])
            row["lr"] = r0["hyperparameters"].get("lr")
            row["hyperparameters"] = _spec(entry.name, r0["hyperparameters"])
            times = [r["seconds"] for r in mine if r["optimizer"] == row["optimizer"]]
            steps = [r["steps"] for r in mine if r["optimizer"] == row["optimizer"]]
            row["seconds"] = float(np.median(times))
            rates = [s / t if t > 0 else math.nan for s, t in zip(steps, times, strict=True)]
            row["steps_per_s"] = float(np.median(rates))
        for e in w.entries:
            if best is not None and best.get((name, e.label)) is None:
                # no configuration to run: it ranks with no target reached and no final loss
                summary.append({"task": name, "optimizer": e.label, "reached": "0/0",
                                "steps_to_target": math.inf, "seconds_to_target": math.inf,
                                "status": "every trial diverged"})  # fmt: skip
        summaries[name] = summary
        rows += summary
        run_rows += [_run_row(r, w.target) for r in mine]
        by_label: dict[str, list[History]] = {}
        for r in mine:
            by_label.setdefault(r["optimizer"], []).append(History.from_dict(r["history"]))
        panels += _panels(name, f"{name}-" if several else "", by_label, len(plan.seeds))
        histories.update({(f"{name}:{k}" if several else k): v for k, v in by_label.items()})
    ranked = ranking.rank(summaries, by=plan.rank_by)  # type: ignore[arg-type]
    tables: dict[str, list[dict[str, Any]]] = {"ranking": ranked}
    leading = {"ranking": _HOW.format(tau=ranking.TAU_MAX, by=plan.rank_by)}
    if best is not None:
        tables["tuning"] = [
            {"task": w.task.name, "optimizer": e.label, "search space": e.space.describe() if e.space else "",
             "fixed": spec.format("", {k: e.kwargs[k] for k in e.fixed}).lstrip(":") or "",
             "best configuration": _spec(e.name, best[(w.task.name, e.label)])
             if best.get((w.task.name, e.label)) is not None else "every trial diverged"}
            for w in plan.workloads for e in w.entries
        ]  # fmt: skip
        leading["tuning"] = (f"Each optimizer's search space ({plan.budget} trials each), the settings held "
                             "fixed, and the configuration of its best trial on the validation split.")
    if several:
        times = {t: {r["optimizer"]: float(r[f"{plan.rank_by}_to_target"]) for r in rs}
                 for t, rs in summaries.items()}  # fmt: skip
        panel, profile_rows = _profile_panel(times, plan.rank_by)
        panels.insert(0, panel)
        tables["profile"] = profile_rows
    tables["runs"] = run_rows
    if trials:
        names = {e.label: e.name for e in plan.entries}
        tables["trials"] = [_trial_row(r, names[r["optimizer"]]) for r in trials.values()]
    config = _config(plan, seconds, where, command)
    if best is not None:
        config["best"] = {f"{t}:{o}" if several else o: h for (t, o), h in best.items()}
    task_text = ", ".join(w.task.description for w in plan.workloads)
    desc = (f"{len(plan.entries)} optimizers on {task_text}. Times count training only, not evaluation.")
    result = Study("compare", "descend compare: " + ", ".join(w.task.name for w in plan.workloads), desc,
                   rows, panels, histories, config, command, tables=tables, notes=_protocol(plan, where),
                   leading=leading)  # fmt: skip
    result.columns = [c for c in _COLUMNS if any(c in r for r in rows) and (several or c != "task")]
    result.run_column = "optimizer"
    return result


def _config(plan: Plan, seconds: float, where: str, command: str) -> dict[str, Any]:
    w0 = plan.workloads[0]
    return {
        "task": w0.task.name if len(plan.workloads) == 1 else [w.task.name for w in plan.workloads],
        "task_description": w0.task.description,
        "dataset": w0.dataset.name,
        "data": w0.data,
        "n_train": w0.dataset.n_train,
        "n_test": w0.dataset.n_test,
        "validation": plan.validation,
        "budget": plan.budget,
        "tuned": plan.budget is not None,
        "search_spaces": {e.label: e.space.describe() for e in plan.entries if e.space is not None},
        "targets": {
            w.task.name: {"metric": w.target.metric, "value": w.target.value} for w in plan.workloads
        },
        "given": plan.given,
        # untuned: the settings of the runs; tuned: those the search starts from (see "best")
        "optimizers" if plan.budget is None else "base_settings": {
            e.label: {k: (list(v) if isinstance(v, tuple) else v) for k, v in e.kwargs.items()}
            for e in plan.entries
        },
        "fixed": {e.label: list(e.fixed) for e in plan.entries if e.fixed},
        "epochs": w0.epochs,
        "batch_size": w0.batch_size,
        "eval_every": w0.task.eval_every,
        "seeds": plan.seeds,
        "device": str(plan.device),
        "threads": plan.threads,
        "engine": where,
        "rank_by": plan.rank_by,
        "wall_seconds": seconds,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "command": command,
    }
