"""Tests for descend.train on tiny problems whose answers are known in closed form."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from descend import data
from descend.train import FitConfig, History, NonFiniteLossError, accuracy, evaluate, fit, squared_loss


def linear_problem(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return data.linear_synthetic(n, [2.0, -3.4, 0.5], 4.2, noise=0.1, seed=seed)


def least_squares_loss(x: torch.Tensor, y: torch.Tensor) -> float:
    """The smallest value of mean((Xw + b − y)²)/2, from the normal equations in float64."""
    a = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
    coef = torch.linalg.lstsq(a, y.double().unsqueeze(1)).solution
    return float(((a @ coef).squeeze(1) - y.double()).pow(2).mean() / 2)


def linear_model(d: int = 3, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, 1)


def quiet_fit(model, optimizer, dataset, **kw):
    kw.setdefault("progress", False)
    return fit(model, kw.pop("loss", squared_loss), optimizer, dataset, **kw)


# --------------------------------------------------------------------------------------- convergence


def test_full_batch_gradient_descent_reaches_the_least_squares_loss():
    x, y = linear_problem()
    model = linear_model()
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.5), (x, y), epochs=200, batch_size=64)
    best = least_squares_loss(x, y)
    assert history.status == "finished" and len(history) == 201
    assert history["train_loss"][0] > 10 * best
    assert history.final("train_loss") == pytest.approx(best, rel=1e-4)


def test_minibatch_sgd_gets_close_to_the_least_squares_loss_and_decreases():
    x, y = linear_problem()
    model = linear_model()
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=40, batch_size=8)
    best = least_squares_loss(x, y)
    losses = history["train_loss"]
    assert losses[0] > losses[1] > losses[2]
    assert best <= history.final("train_loss") < 1.1 * best


# ---------------------------------------------------------------------------------- evaluation points


def test_evaluation_every_k_examples_lands_after_each_crossing():
    x, y = linear_problem(64)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = quiet_fit(model, opt, (x, y), epochs=2, batch_size=8, eval_every=20)
    # Batches of 8: the counts 24, 40, 64, ... are the first to reach 20, 40, 60, ...; 128 is the end.
    assert history["examples"] == [0, 24, 40, 64, 80, 104, 120, 128]
    assert history["step"] == [0, 3, 5, 8, 10, 13, 15, 16]
    assert history["epoch"] == [e / 64 for e in history["examples"]]


def test_evaluation_per_epoch_with_a_short_last_batch():
    x, y = linear_problem(10)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = quiet_fit(model, opt, (x, y), epochs=3, batch_size=4)
    assert history["examples"] == [0, 10, 20, 30] and history["step"] == [0, 3, 6, 9]
    assert history["epoch"] == [0.0, 1.0, 2.0, 3.0]
    dropped = quiet_fit(linear_model(), torch.optim.SGD(model.parameters(), lr=0.01), (x, y), epochs=2,
                        batch_size=4, drop_last=True, eval_at_start=False)  # fmt: skip
    assert dropped["examples"] == [8, 16] and dropped["step"] == [2, 4]


def test_recorded_loss_is_the_whole_training_set_loss_of_the_final_model():
    x, y = linear_problem(40)
    model = linear_model()
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, batch_size=7)
    with torch.no_grad():
        direct = float(squared_loss(model(x), y))
    assert history.final("train_loss") == pytest.approx(direct, rel=1e-6)
    assert history["seconds"][0] == 0.0 and history["seconds"] == sorted(history["seconds"])


def test_running_train_loss_is_the_mean_of_the_minibatch_losses():
    x, y = linear_problem(48)
    model = linear_model()
    # lr=0 keeps the model fixed, so the mean of the epoch's minibatch losses (every example once, in
    # equal batches) must equal the loss over the whole set.
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    history = quiet_fit(model, opt, (x, y), epochs=2, batch_size=12, train_eval="running")
    with torch.no_grad():
        full = float(squared_loss(model(x), y))
    assert history["train_loss"] == pytest.approx([full] * 3, rel=1e-6)


# ------------------------------------------------------------------------------------------- sampling


class Recorder(nn.Module):
    """y = w·x₀, remembering which examples (x₀ is the example's index) each training batch held."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.batches: list[list[int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.batches.append(x[:, 0].long().tolist())
        return x[:, 0] * self.w


def sampled(n: int, batch_size: int, epochs: int, **kw) -> list[list[int]]:
    model = Recorder()
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, torch.zeros(n)), epochs=epochs,
              batch_size=batch_size, eval_at_start=False, **kw)  # fmt: skip
    return model.batches


def test_without_replacement_each_epoch_is_a_permutation():
    batches = sampled(50, 5, epochs=3, seed=7)
    assert len(batches) == 30 and all(len(b) == 5 for b in batches)
    epochs = [[i for b in batches[e * 10 : (e + 1) * 10] for i in b] for e in range(3)]
    assert all(sorted(e) == list(range(50)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(50))
    assert sampled(50, 5, epochs=3, seed=7) == batches
    assert sampled(50, 5, epochs=3, seed=8) != batches


def test_with_replacement_draws_independently_with_the_same_batch_sizes():
    batches = sampled(50, 5, epochs=2, seed=7, replacement=True)
    assert [len(b) for b in batches] == [5] * 20
    flat = [i for b in batches for i in b]
    assert all(0 <= i < 50 for i in flat)
    # 100 uniform draws from 50: a repeat within an epoch is all but certain (no repeat: 50!/50^50).
    assert len({i for b in batches[:10] for i in b}) < 50
    assert sampled(50, 5, epochs=2, seed=7, replacement=True) == batches
    short = sampled(12, 5, epochs=1, replacement=True)
    assert [len(b) for b in short] == [5, 5, 2]


# ------------------------------------------------------------------------------------ checkpoints


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    # Dropout consumes torch's global generator during training: resuming must restore it too.
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 1))


def adam_run(model: nn.Module):
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.97**t)
    return opt, sched


def without_seconds(history: History) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


@pytest.mark.parametrize(
    ("first_stop", "options"),
    [
        ({"epochs": 2}, {}),
        ({"epochs": 4, "max_steps": 8}, {"eval_every": 20}),  # mid-epoch: 11 batches per epoch
        ({"epochs": 4, "max_steps": 13, "checkpoint_every": 5}, {"replacement": True}),
    ],
)
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, first_stop, options):
    x, y = linear_problem(64)
    tx, ty = linear_problem(16, seed=1)
    dataset = (x, y, tx, ty)
    kw = {"batch_size": 6, "seed": 3, **options}

    model_a = mlp(0)
    opt, sched = adam_run(model_a)
    straight = quiet_fit(model_a, opt, dataset, epochs=4, scheduler=sched, **kw)

    path = tmp_path / "run.ckpt"
    model_b = mlp(0)
    opt, sched = adam_run(model_b)
    stopped = quiet_fit(model_b, opt, dataset, scheduler=sched, checkpoint=path, **first_stop, **kw)
    assert stopped.status == ("max_steps" if "max_steps" in first_stop else "finished")
    assert stopped.final("step") < straight.final("step")
    torch.manual_seed(12345)  # whatever happens between the two halves must not matter

    model_c = mlp(99)  # different initial weights: everything must come from the checkpoint
    opt, sched = adam_run(model_c)
    resumed = quiet_fit(model_c, opt, dataset, epochs=4, scheduler=sched, checkpoint=path, resume=True, **kw)

    assert resumed.status == "finished"
    for p, q in zip(model_a.parameters(), model_c.parameters(), strict=True):
        assert torch.equal(p, q)
    assert without_seconds(resumed) == without_seconds(straight)
    assert [f.name for f in tmp_path.iterdir()] == ["run.ckpt"]  # atomic writes leave no temporary file


def test_resume_without_a_checkpoint_file_starts_afresh_and_writes_one(tmp_path):
    x, y = linear_problem(16)
    model = linear_model()
    path = tmp_path / "sub" / "c.pt"
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=4,
                        checkpoint=path, resume=True)  # fmt: skip
    assert history.status == "finished" and path.is_file()
    state = torch.load(path, weights_only=True)
    assert state["position"]["step"] == 4 and state["position"]["epoch"] == 1
    assert torch.equal(state["model"]["weight"], model.weight)


def test_resume_refuses_a_checkpoint_from_different_settings(tmp_path):
    x, y = linear_problem(16)
    path = tmp_path / "c.pt"
    model = linear_model()
    quiet_fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=4, checkpoint=path
    )
    with pytest.raises(ValueError, match=r"written with batch_size=4, this call has batch_size=8"):
        quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, batch_size=8,
                  checkpoint=path, resume=True)  # fmt: skip
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Invalid checkpoint"):
        quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, batch_size=4,
                  checkpoint=path, resume=True)  # fmt: skip


def test_resume_with_another_optimizer_class_is_refused_before_the_model_is_touched(tmp_path):
    from descend import optim

    x, y = linear_problem(16)
    path = tmp_path / "c.pt"
    model = linear_model()
    quiet_fit(model, optim.Adam(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=4, checkpoint=path)
    other = linear_model(seed=5)
    before = [p.detach().clone() for p in other.parameters()]
    for opt in (torch.optim.SGD(other.parameters(), lr=0.1), torch.optim.Adam(other.parameters(), lr=0.1)):
        state = json.dumps(opt.state_dict(), default=str)
        refused = r"written by the optimizer descend\.optim\..*Adam, this call has torch\.optim\..*(SGD|Adam)"
        with pytest.raises(ValueError, match=refused):
            quiet_fit(other, opt, (x, y), epochs=2, batch_size=4, checkpoint=path, resume=True)
        assert json.dumps(opt.state_dict(), default=str) == state
    assert all(torch.equal(p, q) for p, q in zip(other.parameters(), before, strict=True))
    # the same class resumes
    history = quiet_fit(other, optim.Adam(other.parameters(), lr=0.1), (x, y), epochs=2, batch_size=4,
                        checkpoint=path, resume=True)  # fmt: skip
    assert history.status == "finished" and history.final("epoch") == 2


def test_resume_into_another_model_is_refused_before_anything_is_loaded(tmp_path):
    x, y = linear_problem(16)
    path = tmp_path / "c.pt"
    model = linear_model()
    quiet_fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=4, checkpoint=path
    )
    wide = nn.Sequential(nn.Linear(3, 1))
    before = [p.detach().clone() for p in wide.parameters()]
    with pytest.raises(ValueError, match="holds another model"):
        quiet_fit(wide, torch.optim.SGD(wide.parameters(), lr=0.1), (x, y), epochs=2, batch_size=4,
                  checkpoint=path, resume=True)  # fmt: skip
    assert all(torch.equal(p, q) for p, q in zip(wide.parameters(), before, strict=True))


def test_a_killed_write_leaves_a_part_file_that_the_next_start_removes(tmp_path):
    import os

    from descend.files import replacing

    x, y = linear_problem(16)
    path = tmp_path / "run.ckpt"
    model = linear_model()
    quiet_fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=4, checkpoint=path
    )
    # a write killed half way: the temporary file stays (os._exit skips every cleanup)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child dies at once
        with replacing(path) as handle:
            handle.write(b"half a checkpoint")
            handle.flush()
            os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / "other.txt.part").write_text("not ours")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part"))
    assert len(leftovers) == 2 and leftovers[0].startswith(".run.ckpt.")
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, batch_size=4,
                        checkpoint=path, resume=True)  # fmt: skip
    assert history.status == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt.part", "run.ckpt"]


def test_settings_are_a_typed_frozen_configuration():
    cfg = FitConfig(epochs=2, batch_size=4, eval_every=8)
    with pytest.raises(TypeError, match="epoch"):
        FitConfig(epoch=2, batch_size=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    with pytest.raises(TypeError, match=r"Invalid setting: 'epoch'; did you mean epochs\?"):
        fit(linear_model(), squared_loss, torch.optim.SGD(linear_model().parameters(), lr=0.1),
            linear_problem(16), epoch=1, batch_size=4)  # fmt: skip
    x, y = linear_problem(16)
    model = linear_model()
    given = fit(model, squared_loss, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), cfg, progress=False)
    model = linear_model()
    spelled = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, batch_size=4,
                        eval_every=8)  # fmt: skip
    assert given["train_loss"] == spelled["train_loss"] and given["examples"] == [0, 8, 16, 24, 32]
    # keywords replace the configuration's fields
    model = linear_model()
    more = fit(model, squared_loss, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), cfg, epochs=3,
               progress=False)  # fmt: skip
    assert more.final("epoch") == 3


# ------------------------------------------------------------------------------------- non-finite


def diverging(on_nonfinite: str = "stop", eval_every: int = 8):
    x, y = linear_problem(32)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=50.0)  # far beyond 2/λ_max: the iterates blow up
    history = quiet_fit(model, opt, (x, y), epochs=50, batch_size=8, eval_every=eval_every,
                        on_nonfinite=on_nonfinite)  # fmt: skip
    return model, history


def test_non_finite_loss_at_an_evaluation_stops_and_keeps_the_history():
    _, history = diverging(eval_every=8)
    assert history.status == "diverged" and not history.ok
    assert history.message.startswith(
        f"non-finite loss at the evaluation after update {history.final('step')}"
    )
    assert not math.isfinite(history.final("train_loss"))
    losses = history["train_loss"]
    assert len(losses) >= 4 and math.isfinite(losses[0]) and losses[2] > losses[1] > losses[0]
    assert history["step"] == list(range(len(history)))


def test_non_finite_minibatch_loss_stops_before_the_update():
    model, history = diverging(eval_every=10**9)
    assert history.status == "diverged"
    assert "non-finite training loss" in history.message and "before that update" in history.message
    assert len(history) == 1 and math.isfinite(history.final("train_loss"))  # only the initial model
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_non_finite_loss_can_raise_with_the_history():
    _, stopped = diverging()
    with pytest.raises(NonFiniteLossError, match="non-finite") as info:
        diverging("raise")
    assert without_seconds(info.value.history) == without_seconds(stopped)
    assert info.value.history.status == "diverged"


# ------------------------------------------------------------------------------------ classification


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return centers[labels] + 0.7 * torch.randn(n, 2, generator=g), labels


def test_classification_records_accuracy_on_train_and_test():
    x, y = blobs(90, 0)
    tx, ty = blobs(30, 1)
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    history = quiet_fit(model, opt, (x, y, tx, ty), loss=nn.functional.cross_entropy, epochs=5, batch_size=10)
    assert {"train_acc", "test_acc", "test_loss"} <= set(history.columns())
    with torch.no_grad():
        assert history.final("test_acc") == pytest.approx(float((model(tx).argmax(1) == ty).float().mean()))
        assert history.final("train_loss") == pytest.approx(float(nn.functional.cross_entropy(model(x), y)))
    assert history.final("train_acc") > 0.85 and history["train_acc"][0] < 0.7
    assert history.config["optimizer"] == "SGD" and history.config["hyperparameters"]["momentum"] == 0.9


def test_accuracy_and_evaluate():
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert float(accuracy(out, torch.tensor([1, 0, 0, 0]))) == 0.75
    assert float(accuracy(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0]))) == pytest.approx(2 / 3)
    x, y = linear_problem(50)
    model = linear_model()
    chunked = evaluate(model, squared_loss, x, y, batch_size=7)
    with torch.no_grad():
        assert chunked["loss"] == pytest.approx(float(squared_loss(model(x), y)), rel=1e-6)


# --------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_scheduler_is_stepped_per_update_or_per_epoch(interval):
    x, y = linear_problem(20)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5**t)
    history = quiet_fit(
        model, opt, (x, y), epochs=3, batch_size=5, scheduler=sched, scheduler_interval=interval
    )
    counts = history["step"] if interval == "step" else [int(e) for e in history["epoch"]]
    assert history["lr"] == pytest.approx([0.1 * 0.5**c for c in counts])


# ----------------------------------------------------------------------------------- history files


def test_history_json_and_csv_round_trip(tmp_path):
    x, y = blobs(40, 0)
    tx, ty = blobs(20, 1)
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    history = quiet_fit(model, opt, (x, y, tx, ty), loss=nn.functional.cross_entropy, epochs=2, batch_size=8)
    history.records[1]["test_loss"] = math.nan  # non-finite values must survive as NaN
    back = History.from_json(history.to_json(tmp_path / "h.json"))
    assert back.status == history.status and back.message == history.message and back.config == history.config
    assert json.loads((tmp_path / "h.json").read_text())["records"][1]["test_loss"] is None
    from_csv = History.from_csv(history.to_csv(tmp_path / "h.csv"))
    for copy in (back, from_csv):
        assert copy.columns() == history.columns()
        for a, b in zip(copy.records, history.records, strict=True):
            assert a.keys() == b.keys()
            assert all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)
    assert isinstance(from_csv.final("step"), int)
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == ",".join(history.columns())


def test_history_access():
    h = History(
        [{"step": 0, "train_loss": 3.0}, {"step": 5, "train_loss": 1.0}, {"step": 9, "train_loss": 2.0}]
    )
    assert h.final("train_loss") == 2.0 and h.best("train_loss") == 1.0 and h.best("step", "max") == 9
    assert h["step"] == [0, 5, 9] and len(h) == 3
    with pytest.raises(KeyError, match="test_loss"):
        h.final("test_loss")
    with pytest.raises(IndexError, match="empty"):
        History().final("train_loss")


# -------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "Invalid epochs: 0; expected epochs > 0"),
        ({"batch_size": -2}, ValueError, "Invalid batch_size: -2; expected batch_size > 0"),
        ({"batch_size": 2.5}, TypeError, "Invalid batch_size: 2.5"),
        ({"eval_every": 0}, ValueError, "Invalid eval_every: 0"),
        ({"max_steps": -1}, ValueError, "Invalid max_steps: -1"),
        ({"seed": -1}, ValueError, "Invalid seed: -1"),
        ({"train_eval": "some"}, ValueError, "Invalid train_eval: 'some'"),
        ({"scheduler_interval": "batch"}, ValueError, "Invalid scheduler_interval: 'batch'"),
        ({"on_nonfinite": "ignore"}, ValueError, "Invalid on_nonfinite: 'ignore'"),
        ({"resume": True}, ValueError, "Invalid resume: True without a checkpoint"),
        ({"checkpoint_every": 3}, ValueError, "Invalid checkpoint_every: 3 without a checkpoint"),
        ({"batch_size": 40, "drop_last": True}, ValueError, "Invalid batch_size: 40 with drop_last"),
    ],
)
def test_fit_rejects_bad_arguments_naming_them(kwargs, error, message):
    x, y = linear_problem(16)
    model = linear_model()
    settings = {"epochs": 1, "batch_size": 4, **kwargs}
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), **settings)


def test_fit_rejects_bad_objects():
    x, y = linear_problem(16)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="Invalid data: dict"):
        quiet_fit(model, opt, {"x": x}, epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="same number of examples"):
        quiet_fit(model, opt, (x, y[:5]), epochs=1, batch_size=4)
    with pytest.raises(TypeError, match="Invalid optimizer: str"):
        quiet_fit(model, "sgd", (x, y), epochs=1, batch_size=4)
    other = torch.optim.SGD(linear_model().parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(other, lambda t: 1.0)
    with pytest.raises(ValueError, match="Invalid scheduler"):
        quiet_fit(model, opt, (x, y), epochs=1, batch_size=4, scheduler=sched)
    with pytest.raises(ValueError, match=r"Invalid loss value: \(16, 1\); expected a scalar"):
        quiet_fit(model, opt, (x, y), epochs=1, batch_size=4, loss=lambda out, t: out)


def test_callback_sees_every_record_and_progress_bar_runs():
    x, y = linear_problem(16)
    model = linear_model()
    seen = []
    history = fit(model, squared_loss, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
                  batch_size=4, progress=True, callback=seen.append)  # fmt: skip
    assert seen == history.records and len(seen) == 3


def test_fit_on_a_dataset_object_with_a_test_split():
    ds = data.diabetes(seed=0)
    model = linear_model(10)
    history = quiet_fit(model, torch.optim.SGD(model.parameters(), lr=0.5), ds, epochs=300, batch_size=1000,
                        eval_every=354 * 50)  # fmt: skip
    assert history.config["dataset"] == "diabetes" and history.config["n_test"] == 88
    assert history.final("train_loss") == pytest.approx(least_squares_loss(ds.train_x, ds.train_y), rel=1e-3)
    assert set(history.columns()) >= {"test_loss"} and "train_acc" not in history.columns()


def test_descend_optimizers_and_schedules_resume_exactly(tmp_path):
    from descend import optim, schedules

    x, y = linear_problem(40)

    def run(seed: int, **kw) -> tuple[nn.Module, History]:
        model = mlp(seed)
        opt = optim.Adam(model.parameters(), lr=0.02)
        sched = schedules.LRScheduler(opt, schedules.cosine(0.02, max_steps=25))
        return model, quiet_fit(model, opt, (x, y), epochs=3, batch_size=4, scheduler=sched, **kw)

    model_a, straight = run(0)
    run(0, checkpoint=tmp_path / "c.pt", max_steps=13)
    model_b, resumed = run(7, checkpoint=tmp_path / "c.pt", resume=True)
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True))
    assert without_seconds(resumed) == without_seconds(straight)
    assert straight["lr"][0] == 0.02 and straight.final("lr") == 0.0


def test_lbfgs_with_strong_wolfe_trains_on_minibatches_as_torchs():
    from descend import optim

    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    runs = []
    for cls in (optim.LBFGS, torch.optim.LBFGS):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        opt = cls(model.parameters(), max_iter=5, line_search_fn="strong_wolfe")
        history = quiet_fit(model, opt, (x, y, x, y), epochs=4, batch_size=16)
        state = opt.state[model.weight]
        params = torch.cat([model.weight.reshape(-1), model.bias]).detach()
        losses = [r["train_loss"] for r in history.records]
        runs.append((losses, params, (state["func_evals"], state["n_iter"])))
    (losses, params, counts), (torch_losses, torch_params, torch_counts) = runs
    assert losses[-1] < 1e-6 * losses[0]
    assert losses == torch_losses and counts == torch_counts
    torch.testing.assert_close(params, torch_params, rtol=0, atol=1e-6)


def test_lbfgs_trains_through_a_closure_and_schedule_free_is_evaluated_at_its_average():
    from descend import optim

    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    for cls, kwargs in ((optim.LBFGS, {"lr": 0.5, "max_iter": 5}), (optim.ScheduleFreeAdamW, {"lr": 0.1})):
        model = torch.nn.Linear(3, 1)
        opt = cls(model.parameters(), **kwargs)
        history = quiet_fit(model, opt, (x, y, x, y), epochs=15, batch_size=16)
        first, last = history.records[0]["train_loss"], history.records[-1]["train_loss"]
        assert last < 0.5 * first, cls.__name__
    # the records saw x (eval mode), and training went on at y afterwards
    assert opt.param_groups[0]["train_mode"] is True
    ys = [p.detach().clone() for p in model.parameters()]
    opt.eval()
    with torch.no_grad():
        loss_x = squared_loss(model(x), y).item()
    opt.train()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ys, strict=True))
    assert loss_x == pytest.approx(history.records[-1]["test_loss"], rel=1e-5)
