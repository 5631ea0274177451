"""Tuning with equal budgets (descend.lab.tuning, trials, ranking), in this process: the search spaces and
their Sobol points, the test split never read while tuning, trials stored once and read back, the best
trial and the ranking computed from what is stored, every optimizer trainable in a comparison."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from descend.data import Dataset, diabetes
from descend.lab import ranking, trials, tuning
from descend.lab.compare import TASKS, compare
from descend.lab.ranking import Target


def test_sobol_points_fill_the_cube_and_a_larger_budget_extends_a_smaller_one():
    p8, p16 = tuning.points(2, 8), tuning.points(2, 16)
    assert p8.shape == (8, 2) and np.array_equal(p16[:8], p8)
    assert np.array_equal(tuning.points(2, 5), p8[:5])
    assert ((p16 >= 0) & (p16 < 1)).all()
    # low discrepancy: each half of each axis holds exactly half of 16 points
    assert all(((p16[:, j] < 0.5).sum() == 8) for j in range(2))
    assert tuning.points(0, 3).shape == (3, 0)
    with pytest.raises(ValueError, match="budget"):
        tuning.points(1, 0)


def test_dimensions_map_the_unit_interval_onto_their_range():
    lr = tuning.Dimension("lr", 1e-4, 1e-1)
    assert lr.value(0.0) == pytest.approx(1e-4) and lr.value(1.0) == pytest.approx(0.1)
    assert lr.value(0.5) == pytest.approx(math.sqrt(1e-4 * 1e-1))  # log-uniform: the geometric middle
    beta = tuning.Dimension("betas", 0.9, 0.999, "log1m", index=0)
    assert beta.value(0.0) == pytest.approx(0.9) and beta.value(1.0) == pytest.approx(0.999)
    assert 1 - beta.value(0.5) == pytest.approx(math.sqrt(0.1 * 0.001))
    space = tuning.Space((lr, beta))
    config = space.configuration([0.5, 0.0], {"lr": 1.0, "betas": (0.5, 0.98), "eps": 1e-8})
    assert config == {"lr": pytest.approx(0.00316228), "betas": (0.9, 0.98), "eps": 1e-8}
    assert space.without(["betas"]).dimensions == (lr,)
    with pytest.raises(ValueError, match="log1m needs high < 1"):
        tuning.Dimension("momentum", 0.5, 1.0, "log1m")
    # momentum and Nesterov search the same space: neither is favoured
    assert tuning.SPACES["momentum"] == tuning.SPACES["nesterov"]


class CountingDataset(Dataset):
    """A dataset that counts the reads of its test split."""

    reads = 0

    def __getattribute__(self, name):
        if name in ("test_x", "test_y"):
            CountingDataset.reads += 1
        return super().__getattribute__(name)


@pytest.fixture
def counted(monkeypatch):
    ds = diabetes()
    data = CountingDataset(ds.train_x, ds.train_y, ds.test_x, ds.test_y, "diabetes", "regression")
    monkeypatch.setitem(TASKS, "diabetes", replace(TASKS["diabetes"], load=lambda _: data))
    CountingDataset.reads = 0
    return data


def test_the_test_split_is_never_read_during_tuning(counted):
    seen = []

    def log(line: str) -> None:
        seen.append((line, CountingDataset.reads))

    result = compare("diabetes", ["sgd", "adam"], budget=3, epochs=2, seeds=[0, 1], engine="inline",
                     progress=False, log=log)  # fmt: skip
    tuning_lines = [(line, n) for line, n in seen if " trial " in line]
    final_lines = [(line, n) for line, n in seen if " seed " in line]
    assert len(tuning_lines) == 6 and len(final_lines) == 4
    assert all(n == 0 for _, n in tuning_lines), tuning_lines
    assert all(n > 0 for _, n in final_lines)  # the final runs are measured on it
    assert all(math.isfinite(r["test_loss"]) for r in result.tables["runs"])
    assert {r["optimizer"] for r in result.tables["trials"]} == {"sgd", "adam"}
    assert "val_loss" in result.tables["trials"][0] and "test_loss" not in result.tables["trials"][0]


def _lines(path):
    return path.read_text().splitlines()


def test_stored_trials_are_read_back_never_rerun_and_a_cut_line_is_dropped(tmp_path):
    settings = dict(budget=3, epochs=2, seeds=[0], engine="inline", progress=False, out=tmp_path)
    compare("diabetes", ["sgd", "momentum"], **settings)
    full = _lines(tmp_path / "trials.jsonl")
    assert len(full) == 6
    keys = [(json.loads(x)["optimizer"], json.loads(x)["trial"]) for x in full]
    assert sorted(keys) == sorted((o, k) for o in ("sgd", "momentum") for k in range(3))
    # a run killed after four trials, in the middle of writing the fifth
    (tmp_path / "trials.jsonl").write_text("\n".join(full[:4]) + "\n" + full[4][:25])
    ran = []
    result = compare("diabetes", ["sgd", "momentum"], log=ran.append, **settings)
    after = _lines(tmp_path / "trials.jsonl")
    assert after[:4] == full[:4]  # the earlier lines are unchanged
    assert len(after) == 6 and len([x for x in ran if " trial " in x]) == 2  # only the missing ones ran
    again = {(r["optimizer"], r["trial"]): r for r in map(json.loads, after)}
    for line in full:  # deterministic: a trial run again gives the same numbers
        r = json.loads(line)
        assert again[(r["optimizer"], r["trial"])]["validation"] == r["validation"]
    assert len(result.tables["trials"]) == 6
    # the same comparison once more: nothing runs, nothing is written
    ran.clear()
    compare("diabetes", ["sgd", "momentum"], log=ran.append, **settings)
    assert ran == [] and _lines(tmp_path / "trials.jsonl") == after
    # another comparison in the same folder is refused, naming the folder
    with pytest.raises(ValueError, match=r"trials\.jsonl holds trial 0 of sgd"):
        compare("diabetes", ["sgd", "momentum"], **{**settings, "epochs": 3})


def test_the_best_trial_and_the_ranking_are_computed_from_the_stored_records(tmp_path):
    settings = dict(budget=4, epochs=2, seeds=[0, 1], engine="inline", progress=False, out=tmp_path)
    first = compare("diabetes", ["sgd", "adam"], **settings)
    lines = [json.loads(x) for x in _lines(tmp_path / "trials.jsonl")]
    sgd = [r for r in lines if r["optimizer"] == "sgd"]
    best = min(sgd, key=lambda r: r["validation"])
    assert first.config["best"]["sgd"] == best["hyperparameters"]
    # a stored record says another trial was best: the report follows the store, not a rerun
    other = next(r for r in sgd if r is not best)
    other["validation"] = best["validation"] / 2
    (tmp_path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    second = compare("diabetes", ["sgd", "adam"], **settings)
    assert second.config["best"]["sgd"] == other["hyperparameters"]
    row = next(r for r in second.rows if r["optimizer"] == "sgd")
    assert row["lr"] == other["hyperparameters"]["lr"]
    # the ranking, recomputed from runs.jsonl alone, is the report's
    runs = [json.loads(x) for x in _lines(tmp_path / "runs.jsonl")]
    current = [r for r in runs if r["hyperparameters"] == second.config["best"][r["optimizer"]]]
    assert len(current) == 4  # the final runs of the old best stay in the file, unused
    again = ranking.rank({"diabetes": ranking.summarize(current, TASKS["diabetes"].target)})
    assert [r["optimizer"] for r in again] == [r["optimizer"] for r in second.tables["ranking"]]
    assert [r["score"] for r in again] == [r["score"] for r in second.tables["ranking"]]


def test_time_to_target_profiles_and_scores():
    target = Target("val_acc", 0.9)
    records = [{"step": 0, "seconds": 0.0, "val_acc": 0.1}, {"step": 10, "seconds": 1.5, "val_acc": 0.92},
               {"step": 20, "seconds": 3.0, "val_acc": 0.95}]  # fmt: skip
    assert ranking.time_to_target(records, target) == (10, 1.5)
    assert ranking.time_to_target(records, Target("val_acc", 0.99)) is None
    assert ranking.time_to_target([{"step": 5, "seconds": 1.0, "val_loss": 0.2}], Target("val_loss", 0.3))
    times = {"a": {"x": 1.0, "y": 2.0, "z": math.inf}, "b": {"x": 4.0, "y": 1.0, "z": 1.5}}
    prof = ranking.profile(times, [1.0, 1.5, 2.0, 4.0])
    assert prof["x"].tolist() == [0.5, 0.5, 0.5, 1.0]  # best on a, 4x the best on b
    assert prof["y"].tolist() == [0.5, 0.5, 1.0, 1.0]
    assert prof["z"].tolist() == [0.0, 0.5, 0.5, 0.5]  # never reaches a's target
    summaries = {t: [{"optimizer": o, "seconds_to_target": v, "val_loss": 0.1} for o, v in by.items()]
                 for t, by in times.items()}  # fmt: skip
    table = ranking.rank(summaries)
    scores = {r["optimizer"]: r["score"] for r in table}
    # area under the profile over [1, 4], normalized: x = (1 + 0) / 2, y = (2/3 + 1) / 2, z = (0 + 5/6) / 2
    assert scores == pytest.approx({"x": 0.5, "y": 5 / 6, "z": 5 / 12}, abs=1e-4)
    assert [r["optimizer"] for r in table] == ["y", "x", "z"] and [r["rank"] for r in table] == [1, 2, 3]
    with pytest.raises(ValueError, match="target metric"):
        Target("test_acc", 0.5)


def test_every_kind_of_optimizer_trains_in_a_comparison():
    # L-BFGS through a closure, Schedule-Free evaluated at its average, Muon beside AdamW (the model's
    # bias is not a matrix), and the rest of the lab's optimizers
    names = ["lbfgs", "schedule-free-adamw", "muon", "prodigy", "adan", "lion"]
    result = compare("diabetes", names, epochs=2, seeds=[0], progress=False)
    rows = {r["optimizer"]: r for r in result.rows}
    assert set(rows) == set(names)
    start = result.histories["adan"][0].records[0]["train_loss"]
    for name in names:
        assert rows[name]["status"] == "ok", (name, rows[name])
        assert rows[name]["train_loss"] < start, name
    # and each is tuned over its search space
    tuned = compare("diabetes", names, budget=2, epochs=1, seeds=[0], engine="inline", progress=False)
    trials = {(r["optimizer"], r["trial"]) for r in tuned.tables["trials"]}
    assert trials == {(n, k) for n in names for k in (0, 1)}
    assert sum(r["status"] == "ok" for r in tuned.tables["trials"]) >= len(names)
    assert tuned.config["search_spaces"]["muon"].startswith("lr ∈ [0.001, 0.3]")
    with pytest.raises(ValueError, match="sparse gradients only"):
        compare("diabetes", ["sparse-adam"], epochs=1, progress=False)
    with pytest.raises(ValueError, match="nothing to tune"):
        compare("diabetes", ["sgd:lr=0.1"], budget=2, epochs=1, progress=False, engine="inline")


def test_a_job_is_deterministic_given_its_seed():
    ds = diabetes().split_validation(0.2, test=False)
    job = trials.Job("tuning", "diabetes", "adam", "adam", 0, 3, {"lr": 0.01, "betas": [0.9, 0.999]}, 2, 32)
    a, b = trials.run_job(job, ds), trials.run_job(job, ds)
    assert a["metrics"] == b["metrics"] and a["validation"] == b["validation"]
    assert torch.get_num_threads() >= 1
    assert a["hyperparameters"] == {"lr": 0.01, "betas": [0.9, 0.999]}
    for key in ("optimizer", "trial", "hyperparameters", "validation", "seconds", "seed"):
        assert key in a


def test_several_tasks_give_a_performance_profile_and_one_ranking(tmp_path):
    result = compare(["diabetes", "digits-mlp"], ["sgd", "adam"], budget=2, epochs=1, seeds=[0],
                     engine="inline", progress=False, targets={"digits-mlp": 0.5})  # fmt: skip
    assert [r["rank"] for r in result.tables["ranking"]] == [1, 2]
    assert all(r["tasks reached"].endswith("/2") for r in result.tables["ranking"])
    profile = result.tables["profile"]
    assert profile[0]["tau"] == 1.0 and profile[-1]["tau"] == ranking.TAU_MAX
    for name in ("sgd", "adam"):
        values = [row[name] for row in profile]
        assert values == sorted(values) and all(0 <= v <= 1 for v in values)  # a fraction, growing with τ
    best = result.tables["ranking"][0]["optimizer"]
    assert profile[0][best] > 0  # the first is the fastest somewhere
    names = {p.name for p in result.panels}
    assert {"performance_profile", "digits-mlp-val_loss_vs_epoch", "diabetes-loss_vs_epoch"} <= names
    assert {r["task"] for r in result.rows} == {"diabetes", "digits-mlp"}
    assert result.config["targets"]["digits-mlp"] == {"metric": "val_acc", "value": 0.5}
    written = result.write(tmp_path)
    assert "profile" in written and "Performance profile" in written["html"].read_text()
    with pytest.raises(ValueError, match="per task"):
        compare(["diabetes", "digits-mlp"], ["sgd"], targets=0.5, epochs=1, progress=False)


def test_fashion_mnist_tasks_read_local_idx_files_and_say_where_to_put_them(tmp_path, monkeypatch):
    from descend.data import write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 40)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    folders = {"fashion-mnist-mlp": str(tmp_path), "fashion-mnist-cnn": str(tmp_path)}
    result = compare(list(folders), ["adam"], epochs=1, seeds=[0], progress=False, data=folders)
    runs = result.tables["runs"]
    assert {r["task"] for r in runs} == {"fashion-mnist-mlp", "fashion-mnist-cnn"}
    assert all(r["status"] == "ok" and 0 <= r["test_acc"] <= 1 for r in runs)
    assert result.config["n_train"] == 120 and result.config["n_test"] == 40
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"IDX files are not in .*empty; put the four files"):
        compare("fashion-mnist-mlp", ["adam"], data=str(empty), epochs=1, progress=False)
    monkeypatch.setenv("DESCEND_CACHE", str(empty))
    with pytest.raises(ValueError, match="--data DIR"):
        compare("fashion-mnist-cnn", ["adam"], epochs=1, progress=False)


def test_the_character_task_predicts_the_next_character_of_text_that_ships_with_scikit_learn():
    from descend.data import characters

    ds = characters(context=8)
    assert ds.train_x.dtype == torch.int64 and ds.train_x.shape[1] == 8
    # each window's label is the character the next window ends with
    assert torch.equal(ds.train_y[:-1], ds.train_x[1:, -1])
    assert ds.num_classes > int(max(ds.train_x.max(), ds.train_y.max(), ds.test_y.max()))
    assert 0.15 < ds.n_test / (ds.n_train + ds.n_test) < 0.25
    result = compare("text-chars", ["adam"], epochs=1, seeds=[0], progress=False)
    row = result.rows[0]
    assert row["status"] == "ok" and row["val_acc"] > 1 / ds.num_classes  # better than chance


def test_an_optimizer_whose_every_trial_diverges_ranks_last_with_no_final_runs():
    # momentum at a learning rate of 1e4 (held fixed; its momentum searched) diverges on every trial
    result = compare("diabetes", ["momentum:lr=1e4", "adam"], budget=2, epochs=1, seeds=[0], engine="inline",
                     progress=False)  # fmt: skip
    rows = {r["optimizer"]: r for r in result.rows}
    assert rows["momentum:lr=1e4"]["status"] == "every trial diverged"
    assert [r["optimizer"] for r in result.tables["ranking"]] == ["adam", "momentum:lr=1e4"]
    assert {r["optimizer"] for r in result.tables["runs"]} == {"adam"}
    assert all(r["status"] == "diverged" for r in result.tables["trials"] if r["optimizer"] != "adam")
