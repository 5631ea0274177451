"""descend.optim against torch.optim, the multi-tensor path against the per-tensor path, and the chapter."""

from __future__ import annotations

import math

import pytest
import torch

from descend import optim
from optim_cases import CONFIGS, classes, clone_params, config_id, make_params, run, set_grads

TOL = {torch.float32: {"rtol": 1e-6, "atol": 1e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-12}}


@pytest.mark.parametrize("foreach", [False, True], ids=["per-tensor", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_same_parameters_as_torch(config, dtype, foreach):
    name, kwargs = config
    ours, theirs = classes(name)
    params = make_params(dtype, complex_=True)
    reference = clone_params(params)
    opt = run(lambda ps: ours(ps, foreach=foreach, **kwargs), params, steps=12)
    ref = run(lambda ps: theirs(ps, foreach=False, **kwargs), reference, steps=12)
    for p, q in zip(params, reference, strict=True):
        torch.testing.assert_close(p, q, **TOL[dtype])
    # The state matches too, key by key, in torch's layout. Its tolerance is looser: centered RMSProp's
    # s - g_avg**2 cancels, which magnifies one-ulp differences between torch's addcmul kernel and ours.
    state_tol = {k: 10 * v for k, v in TOL[dtype].items()}
    for p, q in zip(params, reference, strict=True):
        mine, torchs = opt.state[p], ref.state[q]
        assert set(mine) == set(torchs)
        for key in mine:
            torch.testing.assert_close(mine[key], torchs[key], **state_tol)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_multi_tensor_path_equals_per_tensor_path_exactly(config):
    name, kwargs = config
    cls = getattr(optim, name)
    a = make_params(torch.float32, seed=3, complex_=True)
    b = clone_params(a)
    opt_a = run(lambda ps: cls(ps, foreach=False, **kwargs), a, steps=9)
    opt_b = run(lambda ps: cls(ps, foreach=True, **kwargs), b, steps=9)
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)
        for key in opt_a.state[p]:
            assert torch.equal(opt_a.state[p][key], opt_b.state[q][key])


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Yogi"])
def test_parameters_without_gradient_stay_untouched(name):
    cls = getattr(optim, name)
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    kwargs.update({"weight_decay": 0.1} if name != "AdamW" else {})
    p, frozen = torch.randn(4, requires_grad=True), torch.randn(3, requires_grad=True)
    before = frozen.detach().clone()
    opt = cls([p, frozen], **kwargs)
    for _ in range(3):
        p.grad, frozen.grad = torch.ones(4), None
        opt.step()
    assert torch.equal(frozen, before)
    # no step was counted for it (Adagrad, like torch's, creates its state up front with step 0)
    assert float(opt.state[frozen].get("step", 0.0)) == 0.0
    assert not torch.equal(p, torch.zeros(4))


def test_default_path_on_cpu_is_the_fused_one():
    """With a C compiler, the CPU default is the fused kernel: the same bits as asking for it."""
    a = make_params(torch.float32)
    b = clone_params(a)
    run(lambda ps: optim.Adam(ps, lr=0.01), a, steps=5)
    run(lambda ps: optim.Adam(ps, lr=0.01, fused=True), b, steps=5)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_sparse_gradients():
    emb_ours = torch.nn.Embedding(10, 3, sparse=True)
    emb_torch = torch.nn.Embedding(10, 3, sparse=True)
    emb_torch.load_state_dict(emb_ours.state_dict())
    ours = optim.Adagrad(emb_ours.parameters(), lr=0.5)
    theirs = torch.optim.Adagrad(emb_torch.parameters(), lr=0.5)
    idx = torch.tensor([1, 3, 3, 7])
    for _ in range(4):
        for emb, opt in ((emb_ours, ours), (emb_torch, theirs)):
            opt.zero_grad()
            emb(idx).pow(2).sum().backward()
            opt.step()
    torch.testing.assert_close(emb_ours.weight, emb_torch.weight, rtol=1e-6, atol=1e-7)
    untouched = [i for i in range(10) if i not in (1, 3, 7)]
    emb_adam = torch.nn.Embedding(10, 3, sparse=True)
    adam = optim.Adam(emb_adam.parameters())
    emb_adam(idx).sum().backward()
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients"):
        adam.step()
    bad = optim.Adagrad(emb_adam.parameters(), weight_decay=0.1)
    with pytest.raises(RuntimeError, match="weight_decay"):
        bad.step()
    assert torch.equal(emb_ours.weight[untouched], emb_torch.weight[untouched])


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    torch.testing.assert_close(w, torch.tensor([0.8, -1.6]))


def test_tensor_lr_is_read_as_its_value():
    a, b = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    oa, ob = optim.Adam([a], lr=torch.tensor(0.01)), optim.Adam([b], lr=0.01)
    for opt, p in ((oa, a), (ob, b)):
        p.grad = torch.full((3,), 0.5)
        opt.step()
    assert torch.equal(a, b)


# ---- the chapter's 2-D experiments: 20 steps from (-5, -2), printed as the book prints them -----------


def f_round(x):
    return x[0] ** 2 + 2 * x[1] ** 2


def f_ill(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


def trace(f, make, steps=20):
    x = torch.tensor([-5.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = make([x])
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        opt.step()
    return x.detach()


def gd_equations(grad, eta):
    x1, x2 = -5.0, -2.0
    for _ in range(20):
        g1, g2 = grad(x1, x2)
        x1, x2 = x1 - eta * g1, x2 - eta * g2
    return x1, x2


def momentum_equations(grad, eta, beta):
    x1, x2, v1, v2 = -5.0, -2.0, 0.0, 0.0
    for _ in range(20):
        g1, g2 = grad(x1, x2)
        v1, v2 = beta * v1 + g1, beta * v2 + g2
        x1, x2 = x1 - eta * v1, x2 - eta * v2
    return x1, x2


def adagrad_equations(grad, eta, eps=1e-6):
    x1, x2, s1, s2 = -5.0, -2.0, 0.0, 0.0
    for _ in range(20):
        g1, g2 = grad(x1, x2)
        s1, s2 = s1 + g1**2, s2 + g2**2
        x1, x2 = x1 - eta / math.sqrt(s1 + eps) * g1, x2 - eta / math.sqrt(s2 + eps) * g2
    return x1, x2


def rmsprop_equations(grad, eta, gamma, eps=1e-6):
    x1, x2, s1, s2 = -5.0, -2.0, 0.0, 0.0
    for _ in range(20):
        g1, g2 = grad(x1, x2)
        s1, s2 = gamma * s1 + (1 - gamma) * g1**2, gamma * s2 + (1 - gamma) * g2**2
        x1, x2 = x1 - eta / math.sqrt(s1 + eps) * g1, x2 - eta / math.sqrt(s2 + eps) * g2
    return x1, x2


def grad_round(x1, x2):
    return 2 * x1, 4 * x2


def grad_ill(x1, x2):
    return 0.2 * x1, 4 * x2


CHAPTER = [
    # (what, f, descend optimizer, equations, the book's printed line)
    ("gd 0.1", f_round, lambda p: optim.SGD(p, lr=0.1), lambda: gd_equations(grad_round, 0.1),
     "x1: -0.057646, x2: -0.000073"),
    ("gd 0.4", f_ill, lambda p: optim.SGD(p, lr=0.4), lambda: gd_equations(grad_ill, 0.4),
     "x1: -0.943467, x2: -0.000073"),
    ("gd 0.6", f_ill, lambda p: optim.SGD(p, lr=0.6), lambda: gd_equations(grad_ill, 0.6),
     "x1: -0.387814, x2: -1673.365109"),
    ("momentum 0.6 0.5", f_ill, lambda p: optim.SGD(p, lr=0.6, momentum=0.5),
     lambda: momentum_equations(grad_ill, 0.6, 0.5), "x1: 0.007188, x2: 0.002553"),
    ("momentum 0.6 0.25", f_ill, lambda p: optim.SGD(p, lr=0.6, momentum=0.25),
     lambda: momentum_equations(grad_ill, 0.6, 0.25), "x1: -0.126340, x2: -0.186632"),
    ("adagrad 0.4", f_ill, lambda p: optim.Adagrad(p, lr=0.4, eps=0.0, eps_root=1e-6),
     lambda: adagrad_equations(grad_ill, 0.4), "x1: -2.382563, x2: -0.158591"),
    ("adagrad 2", f_ill, lambda p: optim.Adagrad(p, lr=2.0, eps=0.0, eps_root=1e-6),
     lambda: adagrad_equations(grad_ill, 2.0), "x1: -0.002295, x2: -0.000000"),
    ("rmsprop 0.4 0.9", f_ill, lambda p: optim.RMSprop(p, lr=0.4, alpha=0.9, eps=0.0, eps_root=1e-6),
     lambda: rmsprop_equations(grad_ill, 0.4, 0.9), "x1: -0.010599, x2: 0.000000"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "f", "make", "equations", "book"), CHAPTER, ids=[c[0] for c in CHAPTER])
def test_chapter_2d_traces(what, f, make, equations, book):
    x = trace(f, make)
    expected = torch.tensor(equations(), dtype=torch.float64)
    torch.testing.assert_close(x, expected, rtol=1e-12, atol=1e-12)
    assert f"x1: {x[0].item():f}, x2: {x[1].item():f}" == book


def test_yogi_against_its_equations():
    torch.manual_seed(0)
    x0 = torch.randn(6, dtype=torch.float64)
    lr, b1, b2, eps, wd = 0.05, 0.8, 0.95, 1e-3, 0.01
    x = x0.clone().requires_grad_()
    opt = optim.Yogi([x], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, initial_accumulator_value=1e-6)
    v, s, y = torch.zeros(6, dtype=torch.float64), torch.full((6,), 1e-6, dtype=torch.float64), x0.clone()
    for t in range(1, 16):
        g = torch.cos(3 * y) + y**3
        x.grad = torch.cos(3 * x.detach()) + x.detach() ** 3
        opt.step()
        g = g + wd * y
        v = b1 * v + (1 - b1) * g
        s = s + (1 - b2) * g**2 * torch.sign(g**2 - s)
        v_hat, s_hat = v / (1 - b1**t), s / (1 - b2**t)
        y = y - lr * v_hat / (torch.sqrt(s_hat) + eps)
        torch.testing.assert_close(x.detach(), y, rtol=1e-12, atol=1e-14)


def test_yogi_defaults_are_the_chapters():
    opt = optim.Yogi([torch.zeros(1, requires_grad=True)])
    assert opt.defaults["lr"] == 1e-2
    assert opt.defaults["eps"] == 1e-3
    assert opt.defaults["betas"] == (0.9, 0.999)
    assert opt.defaults["initial_accumulator_value"] == 0.0


CHAPTER_NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "amsgrad", "adamw",
                 "yogi"]  # fmt: skip


@pytest.mark.parametrize("name", CHAPTER_NAMES)
def test_a_small_model_trains_with_every_chapter_optimizer(name):
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.3).unsqueeze(1) + 0.01 * torch.randn(256, 1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    lr = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.1, "adadelta": 1.0}.get(name, 0.01)
    opt = optim.create(name, model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    first = loss_fn(model(x), y).item()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_complex_parameters_follow_torch():
    z = torch.randn(5, dtype=torch.complex64, requires_grad=True)
    w = z.detach().clone().requires_grad_()
    ours, theirs = optim.Adam([z], lr=0.1), torch.optim.Adam([w], lr=0.1)
    for _ in range(5):
        for p, opt in ((z, ours), (w, theirs)):
            opt.zero_grad()
            (p.abs() ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(z, w, rtol=1e-6, atol=1e-6)
    assert ours.state[z]["exp_avg"].dtype == torch.complex64


def test_drive_helper_gives_gradients_to_all_but_frozen():
    params = make_params()
    set_grads(params, 0)
    assert params[5].grad is None
    assert all(p.grad is not None for i, p in enumerate(params) if i not in (3, 5))
