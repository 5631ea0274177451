"""A remembered fused step equals the general step, and anything that could change what it walks drops it."""

from __future__ import annotations

import io

import pytest
import torch

from descend import optim
from descend.optim import Optimizer
from descend.optim.engine import dispatch
from descend.optim.engine.c import C_BACKEND, build, kernel, native, plan


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path_factory.getbasetemp() / "descend-cache"))


@pytest.fixture(params=["python", "native"])
def checks(request, monkeypatch):
    """The plan's checks in Python, or in the native extension from the first remembered step on."""
    if request.param == "native":
        assert native.module(wait=True) is not None, native.error()
        monkeypatch.setattr(plan, "NATIVE_AFTER", 0)
    else:
        monkeypatch.setattr(plan, "NATIVE_AFTER", None)
    return request.param


def make_params() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (3,), (4, 4), (1,)]
    params = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    params.append(torch.randn(3, generator=gen, dtype=torch.complex64).requires_grad_())
    return params


def grads_for(params: list[torch.Tensor], step: int) -> list[torch.Tensor]:
    return [torch.sin(p.detach() * (step + 1)) for p in params]


def load(opt: torch.optim.Optimizer) -> None:
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    opt.load_state_dict(torch.load(buffer, weights_only=True))


def lose_grad(params, opt):
    params[1].grad = None


def replace_state(params, opt):
    state = opt.state.get(params[0], {})
    for key in [k for k in state if k != "step"][:1]:
        state[key] = state[key].clone() * 0.5


def new_state_dict(params, opt):
    if params[0] in opt.state:
        opt.state[params[0]] = {
            k: v.clone() * (1 if k == "step" else 0.5) for k, v in opt.state[params[0]].items()
        }


def new_storage(params, opt):
    params[2].data = params[2].data.clone()


def change_lr(params, opt):
    opt.param_groups[0]["lr"] *= 0.5


def add_weight_decay(params, opt):
    opt.param_groups[0]["weight_decay"] = 0.1


def transposed_grad(params, opt):
    params[2].grad = params[2].grad.t().contiguous().t()  # same values, not contiguous


def loop_path(params, opt):
    opt.param_groups[0]["fused"] = False


def edit_step_counter(params, opt):
    state = opt.state.get(params[0], {})
    if "step" in state:
        state["step"].fill_(1.0)


def reload(params, opt):
    load(opt)


def transpose_square(params, opt):
    params[2].data = params[2].data.t()  # same address and shape, other strides: the kernel cannot walk it


def reshape_square(params, opt):
    params[2].data = params[2].data.view(2, 8)  # same address and number of elements, another shape
    params[2].grad = params[2].grad.view(2, 8)
    for key, value in opt.state.get(params[2], {}).items():
        if key != "step":
            opt.state[params[2]][key] = value.view(2, 8)


CHANGES = [lose_grad, replace_state, new_state_dict, new_storage, change_lr, add_weight_decay,
           transposed_grad, loop_path, edit_step_counter, reload, transpose_square,
           reshape_square]  # fmt: skip
CONFIGS = [("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01}),
           ("Adagrad", {"lr": 0.1}), ("Yogi", {"lr": 0.01})]  # fmt: skip


def run(name: str, kwargs: dict, change, remember: bool) -> tuple[list[torch.Tensor], Optimizer]:
    params = make_params()
    opt = getattr(optim, name)(params, **kwargs)
    for step in range(6):
        for p, g in zip(params, grads_for(params, step), strict=True):
            p.grad = g
        if step == 3 and change is not None:
            change(params, opt)
        opt.step()
        if not remember:
            opt._plans.clear()
    return params, opt


@pytest.mark.parametrize("change", [None, *CHANGES], ids=lambda c: c.__name__ if c else "none")
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}-{len(c[1])}")
def test_remembered_step_equals_the_general_step(config, change, checks):
    name, kwargs = config
    a, opt_a = run(name, kwargs, change, remember=True)
    b, opt_b = run(name, kwargs, change, remember=False)
    remembered = opt_a._plans.get(0)
    assert remembered is None or (remembered.native is not None) == (checks == "native")
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)
        assert set(opt_a.state[p]) == set(opt_b.state[q])
        for key, v in opt_a.state[p].items():
            assert torch.equal(v, opt_b.state[q][key]), key


def count_general_steps(monkeypatch) -> list[int]:
    general: list[int] = []
    original = dispatch.step_group
    monkeypatch.setattr(dispatch, "step_group", lambda *a, **kw: general.append(1) or original(*a, **kw))
    return general


def train(params: list[torch.Tensor], opt: Optimizer, steps: range) -> None:
    for step in steps:
        for p, g in zip(params, grads_for(params, step), strict=True):
            p.grad = g
        opt.step()


def test_a_plan_runs_the_steady_steps(monkeypatch, checks):
    general = count_general_steps(monkeypatch)
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    train(params, opt, range(5))
    assert len(general) == 1  # the first step; the plan ran the other four
    assert all(opt.state[p]["step"].item() == 5 for p in params)
    params[0].grad = None
    opt.step()  # the plan fails; the general step makes none
    train(params, opt, range(5, 8))  # a general step that plans, then the plan
    assert len(general) == 3
    # the parameter that skipped a step counts one fewer: its own segment, its own kernel call
    assert [len(segment[0]) for segment in opt._plans[0].segments] == [1, len(params) - 1]
    assert [opt.state[p]["step"].item() for p in params] == [8] + [9] * (len(params) - 1)


def test_after_a_plan_fails_the_next_general_step_plans_again(monkeypatch):
    general = count_general_steps(monkeypatch)
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    train(params, opt, range(3))
    assert len(general) == 1  # the plan is made after the first step, momentum buffers included
    params[0].grad = None
    opt.step()  # the plan fails, the general step makes none
    assert len(general) == 2 and opt._plans[0] is None
    train(params, opt, range(3, 6))  # a general step that plans, then the plan
    assert len(general) == 3 and opt._plans[0] is not None


def test_no_plan_where_a_tensor_cannot_take_the_fused_path(monkeypatch):
    params = make_params()
    params.append(torch.randn(6, 4).t().requires_grad_())  # non-contiguous: the per-tensor path
    opt = optim.Adam(params, lr=0.01)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert opt._plans[0] is None


def test_a_kernel_that_cannot_be_built_sends_the_step_to_the_next_backend(tmp_path, monkeypatch):
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    train(params, opt, range(3))
    assert opt._plans[0] is not None

    def fail(*args):
        raise build.CompileError("the compiler crashed")

    monkeypatch.setattr(build, "_compile", fail)
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setattr(kernel, "_KERNELS", {})
    monkeypatch.setattr(C_BACKEND, "disabled", None)
    opt.param_groups[0]["weight_decay"] = 0.1  # a kernel not compiled yet
    with pytest.warns(RuntimeWarning, match="the compiler crashed"):
        train(params, opt, range(3, 4))
    assert C_BACKEND.disabled and opt._plans[0] is None
    assert opt._backend(opt.param_groups[0], torch.device("cpu"), torch.float32).name == "foreach"
    assert all(opt.state[p]["step"].item() == 4 for p in params)
