"""descend against torch.optim on torch's own optimizer database (``optim_db``, shipped in torch's wheel).

Every torch optimizer, every configuration its database lists for CPU, on each of descend's paths: the
model torch's tests use, seven steps with a step that has no gradients and a layer frozen for two steps,
against torch's own class; and every construction or step error the database lists, raised by descend.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from descend import optim

INFOS = {info.optim_cls.__name__: info for info in optim_db}
CONFIGS = [
    pytest.param(name, inp.kwargs, id=f"{name}-{inp.desc}")
    for name, info in INFOS.items()
    for inp in info.optim_inputs_func("cpu")
    if not inp.kwargs.get("capturable")  # CUDA graphs only
]
ERRORS = [
    pytest.param(name, error, id=f"{name}-{error.optimizer_error_input.desc}")
    for name, info in INFOS.items()
    for error in info.optim_error_inputs_func("cpu", torch.float32)
]
TOL = {"rtol": 1e-6, "atol": 1e-6}


def paths(name: str) -> list[dict]:
    """descend's paths for this optimizer: the default, foreach on and off, and fused where torch has it."""
    info, cls = INFOS[name], getattr(optim, name)
    out = [{}]
    takes = cls.__init__.__code__.co_varnames
    if "foreach" in takes:
        out += [{"foreach": True}, {"foreach": False}]
    if "cpu" in info.supports_fused_on:
        out.append({"fused": True})
    return out


def model(dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid()
    ).to(dtype)


def train(cls: type, kwargs: dict, name: str) -> tuple[list[torch.Tensor], dict]:
    """torch's parity protocol: 7 steps, no gradients at step 2, the middle layer frozen at steps 3 and 4."""
    net = model()
    params = [p for p in net.parameters() if p.ndim == 2] if name == "Muon" else list(net.parameters())
    opt = cls(params, **copy.deepcopy(kwargs))
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).reshape(3, 2)

    def closure():
        opt.zero_grad()
        loss = net(x).sum()
        loss.backward()
        if INFOS[name].only_supports_sparse_grads:
            for p in params:
                if p.grad is not None:
                    p.grad = p.grad.to_sparse()
        return loss

    for i in range(7):
        opt.zero_grad()
        net[2].requires_grad_(i not in (3, 4))
        if INFOS[name].step_requires_closure:
            opt.step(closure)
            continue
        if i != 2:
            closure()
        opt.step()
    return [p.detach().clone() for p in params], {
        i: opt.state[p] for i, p in enumerate(params) if p in opt.state
    }


def assert_state_close(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for i in theirs:
        assert ours[i].keys() == theirs[i].keys(), i
        for key, value in theirs[i].items():
            mine = ours[i][key]
            if isinstance(value, torch.Tensor) or isinstance(mine, torch.Tensor):
                torch.testing.assert_close(torch.as_tensor(mine).to(torch.as_tensor(value).dtype),
                                           torch.as_tensor(value), **TOL)  # fmt: skip
            elif isinstance(value, list):  # LBFGS's history
                assert len(mine) == len(value)
            else:
                assert mine == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_every_torch_configuration_on_every_path(name, kwargs):
    expected, expected_state = train(INFOS[name].optim_cls, kwargs, name)
    for path in paths(name):
        got, state = train(getattr(optim, name), {**kwargs, **path}, name)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, **TOL, msg=lambda m, path=path: f"{path}: {m}")
        assert_state_close(state, expected_state)


@pytest.mark.parametrize(("name", "error"), ERRORS)
def test_every_error_torch_lists_is_raised_by_descend(name, error):
    inp = error.optimizer_error_input
    cls = getattr(optim, name)
    params = inp.params if inp.params is not None else [torch.nn.Parameter(torch.randn(2, 2))]
    if error.error_on == OptimizerErrorEnum.STEP_ERROR:
        opt = cls(params, **inp.kwargs)
        with pytest.raises(error.error_type, match=error.error_regex):
            opt.step(lambda: 0.0) if INFOS[name].step_requires_closure else opt.step()
    elif issubclass(error.error_type, Warning):
        with pytest.warns(error.error_type, match=error.error_regex), warnings.catch_warnings():
            cls(params, **inp.kwargs)
    else:
        with pytest.raises(error.error_type, match=error.error_regex):
            cls(params, **inp.kwargs)


def test_the_database_covers_every_torch_optimizer_and_descend_has_each():
    classes = {n: getattr(torch.optim, n) for n in dir(torch.optim)}
    torch_optimizers = {
        n for n, c in classes.items() if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)
    } - {"Optimizer"}
    assert torch_optimizers <= set(INFOS)
    for name in INFOS:
        assert issubclass(getattr(optim, name), torch.optim.Optimizer)
        assert getattr(optim, name) is not INFOS[name].optim_cls


@pytest.mark.parametrize("direction", ["torch-to-descend", "descend-to-torch"])
@pytest.mark.parametrize("name", sorted(INFOS))
def test_state_dicts_load_both_ways_and_the_run_goes_on_as_torchs(name, direction):
    """Three steps with one class, its state dict into the other, three more steps: as torch all along."""
    info = INFOS[name]
    first, second = (info.optim_cls, getattr(optim, name))
    if direction == "descend-to-torch":
        first, second = second, first

    def run(classes):
        net = model()
        params = [p for p in net.parameters() if p.ndim == 2] if name == "Muon" else list(net.parameters())
        x = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).reshape(3, 2)
        state = None
        for cls in classes:
            opt = cls(params)
            if state is not None:
                opt.load_state_dict(state)

            def closure(opt=opt):
                opt.zero_grad()
                loss = net(x).sum()
                loss.backward()
                if info.only_supports_sparse_grads:
                    for p in params:
                        p.grad = p.grad.to_sparse()
                return loss

            for _ in range(3):
                if info.step_requires_closure:
                    opt.step(closure)
                else:
                    closure()
                    opt.step()
            state = copy.deepcopy(opt.state_dict())
        return [p.detach() for p in params]

    for a, b in zip(run([first, second]), run([info.optim_cls, info.optim_cls]), strict=True):
        torch.testing.assert_close(a, b, **TOL)
