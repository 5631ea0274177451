"""State dicts: torch's layout, both directions, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import io

import pytest
import torch

from descend import optim
from optim_cases import CONFIGS, classes, clone_params, config_id, drive, make_params


def roundtrip(state_dict: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


YOGI = [("Yogi", {}), ("Yogi", {"lr": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 1e-6})]


@pytest.mark.parametrize("foreach", [False, True], ids=["per-tensor", "foreach"])
@pytest.mark.parametrize("config", CONFIGS + YOGI, ids=config_id)
def test_resumed_run_is_bit_identical_to_uninterrupted(config, foreach):
    name, kwargs = config
    cls = getattr(optim, name)
    whole = make_params(torch.float32, complex_=True)
    part = clone_params(whole)
    opt = cls(whole, foreach=foreach, **kwargs)
    drive(opt, whole, steps=8)

    first = cls(part, foreach=foreach, **kwargs)
    drive(first, part, steps=3)
    saved = roundtrip(first.state_dict())
    resumed_params = clone_params(part)
    resumed = cls(resumed_params, foreach=foreach, **kwargs)
    resumed.load_state_dict(saved)
    drive(resumed, resumed_params, steps=5, start=3)
    for p, q in zip(whole, resumed_params, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("direction", ["torch-to-descend", "descend-to-torch"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_state_dicts_move_between_torch_and_descend(config, direction):
    name, kwargs = config
    ours, theirs = classes(name)
    source_cls, target_cls = (theirs, ours) if direction == "torch-to-descend" else (ours, theirs)
    reference = make_params(torch.float64, complex_=True)
    moved = clone_params(reference)
    ref_opt = source_cls(reference, **kwargs)
    drive(ref_opt, reference, steps=9)

    src = source_cls(moved, **kwargs)
    drive(src, moved, steps=4)
    target_params = clone_params(moved)
    target = target_cls(target_params, **kwargs)
    target.load_state_dict(roundtrip(src.state_dict()))
    drive(target, target_params, steps=5, start=4)
    for p, q in zip(reference, target_params, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_torch_fused_adam_state_loads_into_any_path():
    p = torch.randn(5, requires_grad=True)
    fused = torch.optim.Adam([p], lr=0.1, fused=True)
    p.grad = torch.ones(5)
    fused.step()
    q = p.detach().clone().requires_grad_()
    ours = optim.Adam([q], lr=0.1)
    ours.load_state_dict(roundtrip(fused.state_dict()))
    assert ours.param_groups[0]["fused"] is None  # the execution path stays ours
    assert ours.param_groups[0]["eps_root"] == 0.0  # descend's own keys take their defaults
    for opt, param in ((fused, p), (ours, q)):
        param.grad = torch.full((5,), -0.5)
        opt.step()
    torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_state_dict_layout_is_torchs():
    p = torch.randn(3, requires_grad=True)
    opt = optim.Adam([p], amsgrad=True)
    p.grad = torch.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"].dtype == torch.float32 and sd["state"][0]["step"].item() == 1.0
    assert sd["param_groups"][0]["params"] == [0]
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    sgd.step()
    assert set(sgd.state_dict()["state"][0]) == {"momentum_buffer"}


def test_plain_sgd_keeps_no_state_entries_like_torch():
    params = [torch.randn(3, requires_grad=True) for _ in range(2)]
    ours, theirs = optim.SGD(params, lr=0.1), torch.optim.SGD(params, lr=0.1)
    for p in params:
        p.grad = torch.ones(3)
    ours.step()
    theirs.step()
    assert ours.state_dict()["state"] == theirs.state_dict()["state"] == {}
    assert len(ours.state) == 0
