"""The modern optimizers against their papers' equations (restated here); every new one trains and resumes."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

import benchmark_scripts
from descend import optim, search

F64 = {"rtol": 1e-11, "atol": 1e-13}


def gradients(n: int, shape: tuple[int, ...], seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n)]


def run(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[list[torch.Tensor]]) -> None:
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = g.clone()
        opt.step()


def start(*shapes: tuple[int, ...]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(42)
    return [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]


@pytest.mark.parametrize("path", [{}, {"foreach": True}, {"foreach": False}])
def test_lion_follows_algorithm_2(path):
    lr, (b1, b2), wd = 0.01, (0.8, 0.95), 0.1
    (x0,) = start((5, 3))
    gs = gradients(6, (5, 3))
    x, m = x0.clone(), torch.zeros_like(x0)
    for g in gs:
        c = b1 * m + (1 - b1) * g
        x = x - lr * (torch.sign(c) + wd * x)
        m = b2 * m + (1 - b2) * g
    p = x0.clone().requires_grad_()
    run(optim.Lion([p], lr=lr, betas=(b1, b2), weight_decay=wd, **path), [p], [[g] for g in gs])
    torch.testing.assert_close(p.detach(), x, **F64)


@pytest.mark.parametrize("path", [{}, {"foreach": True}])
def test_lamb_follows_algorithm_2_layer_by_layer(path):
    lr, (b1, b2), eps, wd = 0.05, (0.9, 0.99), 1e-6, 0.01
    x0s = start((4, 3), (3,))
    gs = [gradients(5, x.shape, seed=i) for i, x in enumerate(x0s)]
    expected = []
    for x0, layer in zip(x0s, gs, strict=True):
        x, m, v = x0.clone(), torch.zeros_like(x0), torch.zeros_like(x0)
        for t, g in enumerate(layer, start=1):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            r = (m / (1 - b1**t)) / (torch.sqrt(v / (1 - b2**t)) + eps) + wd * x
            x = x - lr * torch.linalg.norm(x) / torch.linalg.norm(r) * r
        expected.append(x)
    ps = [x.clone().requires_grad_() for x in x0s]
    opt = optim.LAMB(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, **path)
    run(opt, ps, list(zip(*gs, strict=True)))
    for p, x in zip(ps, expected, strict=True):
        torch.testing.assert_close(p.detach(), x, **F64)


def test_lars_follows_algorithm_1_layer_by_layer():
    lr, mu, wd, tau = 0.5, 0.9, 5e-4, 1e-3
    x0s = start((4, 3), (3,))
    gs = [gradients(5, x.shape, seed=i) for i, x in enumerate(x0s)]
    expected = []
    for x0, layer in zip(x0s, gs, strict=True):
        x, b = x0.clone(), torch.zeros_like(x0)
        for g in layer:
            local = tau * torch.linalg.norm(x) / (torch.linalg.norm(g) + wd * torch.linalg.norm(x))
            b = mu * b + lr * local * (g + wd * x)
            x = x - b
        expected.append(x)
    ps = [x.clone().requires_grad_() for x in x0s]
    opt = optim.LARS(ps, lr=lr, momentum=mu, weight_decay=wd, trust_coefficient=tau)
    run(opt, ps, list(zip(*gs, strict=True)))
    for p, x in zip(ps, expected, strict=True):
        torch.testing.assert_close(p.detach(), x, **F64)


@pytest.mark.parametrize("no_prox", [False, True])
def test_adan_follows_algorithm_1_with_the_authors_bias_correction(no_prox):
    lr, eps, wd = 0.02, 1e-8, 0.05
    beta1, beta2, beta3 = 0.02, 0.08, 0.01  # the paper's betas; descend's are 1 - these
    (x0,) = start((6,))
    gs = gradients(7, (6,))
    x, m, v, n, prev = x0.clone(), *(torch.zeros_like(x0) for _ in range(3)), gs[0]
    for k, g in enumerate(gs, start=1):
        diff = g - prev
        m = (1 - beta1) * m + beta1 * g
        v = (1 - beta2) * v + beta2 * diff
        n = (1 - beta3) * n + beta3 * (g + (1 - beta2) * diff) ** 2
        m_hat, v_hat = m / (1 - (1 - beta1) ** k), v / (1 - (1 - beta2) ** k)
        n_hat = n / (1 - (1 - beta3) ** k)
        eta = lr / (torch.sqrt(n_hat) + eps)
        if no_prox:
            x = (1 - lr * wd) * x - eta * (m_hat + (1 - beta2) * v_hat)
        else:
            x = (x - eta * (m_hat + (1 - beta2) * v_hat)) / (1 + lr * wd)
        prev = g
    p = x0.clone().requires_grad_()
    betas = (1 - beta1, 1 - beta2, 1 - beta3)
    opt = optim.Adan([p], lr=lr, betas=betas, eps=eps, weight_decay=wd, no_prox=no_prox)
    run(opt, [p], [[g] for g in gs])
    torch.testing.assert_close(p.detach(), x, **F64)


def schedule_free_box(x0, gs, lr, beta1, beta2, eps, wd, warmup, adam):
    """The paper's Algorithm 1, with x, y and z kept explicitly: (y, x) after the steps."""
    x, z, v = x0.clone(), x0.clone(), torch.zeros_like(x0)
    lr_max, weight_sum = -1.0, 0.0
    for t, g in enumerate(gs, start=1):
        y = (1 - beta1) * z + beta1 * x
        gamma = lr * min(1.0, t / warmup) if warmup else lr
        if adam:
            v = beta2 * v + (1 - beta2) * g * g
            gamma *= math.sqrt(1 - beta2**t)
            step = g / (torch.sqrt(v) + eps) + wd * y
        else:
            step = g + wd * y
        z = z - gamma * step
        lr_max = max(lr_max, gamma)
        weight_sum += lr_max**2
        c = lr_max**2 / weight_sum
        x = (1 - c) * x + c * z
    return (1 - beta1) * z + beta1 * x, x


@pytest.mark.parametrize("adam", [True, False], ids=["adamw", "sgd"])
def test_schedule_free_follows_algorithm_1_and_eval_gives_the_average(adam):
    (x0,) = start((4, 2))
    gs = gradients(8, (4, 2))
    lr, beta1, beta2, eps, wd, warmup = 0.05, 0.9, 0.99, 1e-8, 0.02, 3
    y, x = schedule_free_box(x0, gs, lr, beta1, beta2, eps, wd, warmup, adam)
    p = x0.clone().requires_grad_()
    if adam:
        opt = optim.ScheduleFreeAdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd,
                                      warmup_steps=warmup)  # fmt: skip
    else:
        opt = optim.ScheduleFreeSGD([p], lr=lr, momentum=beta1, weight_decay=wd, warmup_steps=warmup)
    run(opt, [p], [[g] for g in gs])
    torch.testing.assert_close(p.detach(), y, **F64)
    opt.eval()
    torch.testing.assert_close(p.detach(), x, **F64)
    with pytest.raises(RuntimeError, match=r"step\(\) in eval mode; call optimizer.train\(\)"):
        opt.step()
    opt.train()
    torch.testing.assert_close(p.detach(), y, **F64)
    assert opt.param_groups[0]["k"] == len(gs)


def test_prodigy_follows_its_distance_estimate():
    lr, (b1, b2), eps, wd, d0 = 1.0, (0.9, 0.99), 1e-8, 0.01, 1e-6
    beta3 = math.sqrt(b2)
    (x0,) = start((5,))
    gs = [g + 0.5 for g in gradients(10, (5,))]  # a consistent direction, so that d grows
    x, s, m, v, r, d = x0.clone(), *(torch.zeros_like(x0) for _ in range(3)), 0.0, d0
    ds = []
    for g in gs:
        dlr = d * lr
        r = beta3 * r + (d / d0) * dlr * float(torch.dot(g, x0 - x))
        s = beta3 * s + (d / d0) * dlr * g
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d * d * g * g
        d_new = max(d, r / float(s.abs().sum()))
        x = x * (1 - wd * dlr) - dlr * m / (torch.sqrt(v) + d_new * eps)
        d = d_new
        ds.append(d)
    p = x0.clone().requires_grad_()
    opt = optim.Prodigy([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, d0=d0)
    for g in gs:
        p.grad = g.clone()
        opt.step()
    torch.testing.assert_close(p.detach(), x, **F64)
    assert opt.param_groups[0]["d"] == pytest.approx(ds[-1], rel=1e-12)
    assert ds[-1] > 5 * d0  # the estimate grew from d0


# ---- every new optimizer: it trains, and a resumed run is the uninterrupted one -------------------------

NEW = {
    "nadam": {"lr": 0.02}, "radam": {"lr": 0.05}, "adamax": {"lr": 0.05}, "rprop": {}, "asgd": {"lr": 0.05},
    "adafactor": {"lr": 0.05}, "muon": {"lr": 0.05}, "lbfgs": {"lr": 0.1}, "lion": {"lr": 0.01},
    "lamb": {"lr": 0.05}, "lars": {"lr": 5.0}, "schedule-free-sgd": {"lr": 0.1},
    "schedule-free-adamw": {"lr": 0.02}, "prodigy": {}, "adan": {"lr": 0.05}, "nadamw": {"lr": 0.02},
    "sparse-adam": {"lr": 0.05},
}  # fmt: skip


def regression(name: str):
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0]).unsqueeze(1) + 0.3
    if name == "sparse-adam":  # an embedding looked up by index, as SparseAdam is meant for
        idx = torch.randint(0, 20, (64,))
        emb = torch.nn.Embedding(20, 1, sparse=True)
        return emb, emb.parameters(), lambda: ((emb(idx) - y[:, :1] / 3) ** 2).mean()
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    params = [p for p in model.parameters() if p.ndim == 2] if name == "muon" else model.parameters()
    return model, params, lambda: ((model(x) - y) ** 2).mean()


def make(name: str):
    model, params, loss_fn = regression(name)
    opt = optim.create(name, params, **NEW[name])

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    return model, opt, closure


def steps(opt, closure, n: int) -> list[float]:
    return [float(opt.step(closure)) for _ in range(n)]


@pytest.mark.parametrize("name", NEW)
def test_trains_a_regression_to_half_its_first_loss_within_100_steps(name):
    _, opt, closure = make(name)
    losses = steps(opt, closure, 100)
    assert min(losses) < 0.5 * losses[0], losses[::10]
    assert all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize("name", NEW)
def test_a_run_saved_after_100_steps_and_resumed_equals_the_uninterrupted_one(name):
    model, opt, closure = make(name)
    steps(opt, closure, 100)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buffer)
    uninterrupted = steps(opt, closure, 20)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model2, opt2, closure2 = make(name)
    model2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["optimizer"])
    assert steps(opt2, closure2, 20) == uninterrupted
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_new_short_names_resolve_to_their_classes():
    expected = {
        "nadam": optim.NAdam, "radam": optim.RAdam, "adamax": optim.Adamax, "rprop": optim.Rprop,
        "asgd": optim.ASGD, "lbfgs": optim.LBFGS, "sparse-adam": optim.SparseAdam,
        "adafactor": optim.Adafactor,
        "muon": optim.Muon, "lion": optim.Lion, "lamb": optim.LAMB, "lars": optim.LARS,
        "schedule-free-sgd": optim.ScheduleFreeSGD, "schedule-free-adamw": optim.ScheduleFreeAdamW,
        "prodigy": optim.Prodigy, "adan": optim.Adan,
    }  # fmt: skip
    for name, cls in expected.items():
        assert optim.resolve(name)[0] is cls
        assert name in optim.names()
    assert optim.resolve("nadamw") == (optim.NAdam, {"decoupled_weight_decay": True})


@pytest.mark.parametrize(("cls", "defaults"), [
    (optim.Lion, {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}),
    (optim.LAMB, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0}),
    (optim.LARS, {"lr": 1.0, "momentum": 0.9, "weight_decay": 5e-4, "trust_coefficient": 1e-3}),
    (optim.ScheduleFreeAdamW, {"lr": 0.0025, "betas": (0.9, 0.999), "eps": 1e-8, "warmup_steps": 0,
                               "r": 0.0, "weight_lr_power": 2.0}),
    (optim.ScheduleFreeSGD, {"lr": 1.0, "momentum": 0.9, "warmup_steps": 0, "r": 0.0,
                             "weight_lr_power": 2.0}),
    (optim.Prodigy, {"lr": 1.0, "betas": (0.9, 0.999), "beta3": None, "eps": 1e-8, "d0": 1e-6, "d_coef": 1.0,
                     "growth_rate": math.inf, "decouple": True, "use_bias_correction": False}),
    (optim.Adan, {"lr": 1e-3, "betas": (0.98, 0.92, 0.99), "eps": 1e-8, "weight_decay": 0.0,
                  "no_prox": False}),
])  # fmt: skip
def test_the_papers_defaults(cls, defaults):
    opt = cls([torch.zeros(2, 2, requires_grad=True)])
    assert {k: opt.defaults[k] for k in defaults} == defaults


@pytest.mark.parametrize(("cls", "kwargs", "message"), [
    (optim.Lion, {"betas": (1.0, 0.9)}, r"Invalid beta parameter at index 0: 1\.0"),
    (optim.Adan, {"betas": (0.9, 0.9)}, r"Invalid betas: \(0\.9, 0\.9\); expected 3 values"),
    (optim.LARS, {"trust_coefficient": -1.0}, r"Invalid trust_coefficient: -1\.0"),
    (optim.ScheduleFreeSGD, {"momentum": 1.0}, r"Momentum must be between 0 and 1 exclusive: 1\.0"),
    (optim.ScheduleFreeAdamW, {"warmup_steps": 2.5}, r"Invalid warmup_steps: 2\.5"),
    (optim.Prodigy, {"d0": 0.0}, r"Invalid d0 value: 0\.0"),
    (optim.Prodigy, {"growth_rate": 0.5}, r"Invalid growth_rate: 0\.5"),
    (optim.Rprop, {"step_sizes": (1.0, 0.1)}, r"Invalid step_sizes"),
    (optim.Muon, {"ns_steps": 100}, r"Invalid ns_steps: 100"),
    (optim.LBFGS, {"line_search_fn": "armijo"}, r"Invalid line_search_fn: 'armijo'"),
])  # fmt: skip
def test_bad_arguments_name_the_argument_and_the_value(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.zeros(2, 2, requires_grad=True)], **kwargs)


def test_lbfgs_with_a_line_search_stops_where_a_diverging_objective_is_still_finite():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1, stride=2), torch.nn.BatchNorm2d(2))
    inputs = torch.rand(1, 4, 16, 16)
    opt = optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")

    def closure():  # unbounded below: the searches extrapolate until the quasi-Newton direction overflows
        opt.zero_grad()
        loss = model(inputs).sum()
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
    assert not torch.isfinite(opt.state[opt._params[0]]["d"]).all()  # it did overflow
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_lbfgs_needs_its_closure():
    opt = optim.LBFGS([torch.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match="LBFGS requires a closure"):
        opt.step()


# ---- L-BFGS with line_search_fn="strong_wolfe": torch's iterates and counts -----------------------------


PARITY = benchmark_scripts.load("lbfgs_parity")
# the cheap problems under every setting, the others under the cheaper settings
CHEAP = {"rosenbrock 2-D", "rosenbrock 10-D", "lasso", "complex"}
LBFGS_RUNS = [
    pytest.param(problem, setting, id=f"{problem.name}|{setting}")
    for problem in PARITY.PROBLEMS
    for setting in PARITY.SETTINGS
    if any(problem.name.startswith(c) for c in CHEAP)
    or setting in ("history_size=3", "max_iter=5, max_eval=7", "max_eval=1")
]


@pytest.mark.parametrize(("problem", "setting"), LBFGS_RUNS)
def test_lbfgs_strong_wolfe_takes_torchs_iterates_and_counts(problem, setting):
    (row,) = PARITY.compare([problem], {setting: PARITY.SETTINGS[setting]})
    assert row["counts_equal"], row  # state["func_evals"] and state["n_iter"] after every step
    assert row["max_abs_diff"] <= 1e-6 and row["loss_diff"] <= 1e-9, row


def test_lbfgs_strong_wolfe_searches_with_descend_search_wolfe(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return wolfe(*args, **kwargs)

    wolfe = search.wolfe
    monkeypatch.setattr(search, "wolfe", spy)
    PARITY.trajectory(optim.LBFGS, PARITY.PROBLEMS[0], {"max_iter": 3, "max_eval": 20}, steps=1)
    assert len(calls) == 3
    assert all(dict(search.TORCH_WOLFE).items() <= c.items() for c in calls)
    assert calls[0]["maxiter"] == 20  # torch's max_ls = max_eval - 1 evaluation so far, plus the first trial


@pytest.mark.parametrize("direction", ["torch-to-descend", "descend-to-torch"])
def test_lbfgs_strong_wolfe_state_dicts_load_both_ways(direction):
    """Two steps with one class, its state dict into the other, two more: torch's run all along."""
    first, second = torch.optim.LBFGS, optim.LBFGS
    if direction == "descend-to-torch":
        first, second = second, first
    kwargs = {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 6}
    problem = PARITY.PROBLEMS[-1]  # the MLP: several parameters, one flat history

    def run(classes):
        params, loss = problem.build(torch.Generator().manual_seed(0), torch.float64)
        state, counts = None, []
        for cls in classes:
            opt = cls(params, **kwargs)
            if state is not None:
                opt.load_state_dict(state)

            def closure(opt=opt):
                opt.zero_grad()
                value = loss()
                value.backward()
                return value

            for _ in range(2):
                opt.step(closure)
                counts.append((opt.state[params[0]]["func_evals"], opt.state[params[0]]["n_iter"]))
            state = copy.deepcopy(opt.state_dict())
        return torch.cat([p.detach().reshape(-1) for p in params]), counts

    got, got_counts = run([first, second])
    expected, expected_counts = run([torch.optim.LBFGS, torch.optim.LBFGS])
    assert got_counts == expected_counts
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("max_eval", [2, 3, 10])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("shapes", [[(3, 4)], [(3, 4), (2,), (5,)]], ids=["one", "three"])
def test_lbfgs_with_a_closure_that_zeroes_gradients_in_place_takes_torchs_iterates(shapes, line_search_fn,
                                                                                    max_eval):  # fmt: skip
    def run(cls):
        gen = torch.Generator().manual_seed(0)
        params = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes]
        opt = cls(params, lr=3.0, max_iter=4, max_eval=max_eval, history_size=3,
                  line_search_fn=line_search_fn)  # fmt: skip

        def closure():
            opt.zero_grad(set_to_none=False)  # the same gradient tensors, zeroed
            loss = sum((10 * (p[..., 1:] - p[..., :-1] ** 2) ** 2).sum() + ((1 - p) ** 2).sum()
                       for p in params)  # fmt: skip
            loss.backward()
            return loss

        for _ in range(4):
            opt.step(closure)
        return params

    for a, b in zip(run(optim.LBFGS), run(torch.optim.LBFGS), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
