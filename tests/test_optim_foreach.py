"""The multi-tensor program against eager evaluation of the same rule, on rules that stress its planning."""

from __future__ import annotations

from types import SimpleNamespace as Scalars

import pytest
import torch

from descend import optim
from descend.optim.engine import foreach
from descend.optim.engine.graph import trace


def tensors(seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(5, 3, generator=gen) + 3,
        torch.randn(4, 6, generator=gen).t() + 3,  # non-contiguous
        torch.randn(7, generator=gen) + 3,
        torch.randn(0, 2) + 3,
    ]


def run_both(rule, keys: tuple[str, ...], h: Scalars, maximize: bool = False):
    """The rule eagerly, tensor by tensor, and as a program over lists, from the same starting values."""
    p, g = tensors(0), tensors(1)
    state = {k: tensors(2 + i) for i, k in enumerate(keys)}
    expected_p, expected_state = [], []
    for i in range(len(p)):
        new_p, new = rule(p[i], -g[i] if maximize else g[i], {k: v[i] for k, v in state.items()}, h)
        expected_p.append(new_p)
        expected_state.append(new)
    registers = [
        [t.clone() for t in p],
        [t.clone() for t in g],
        *([t.clone() for t in state[k]] for k in keys),
    ]
    program = foreach.Program(trace(rule, h, keys, maximize))
    created = program(registers, h)
    got_state = [{k: registers[2 + j][i] for j, k in enumerate(keys)} for i in range(len(p))]
    for i in range(len(p)):
        got_state[i].update({k: created[j][i] for j, k in enumerate(program.new_keys)})
    return registers, (expected_p, expected_state), got_state, program


def assert_exact(registers, expected, got_state, g_before):
    expected_p, expected_state = expected
    for i, t in enumerate(expected_p):
        assert torch.equal(registers[0][i], t)
        for k, v in expected_state[i].items():
            assert torch.equal(got_state[i][k], v), k
    assert all(torch.equal(a, b) for a, b in zip(registers[1], g_before, strict=True))  # never written


def test_scalar_first_operations_match_torch_eager_operators():
    def rule(p, g, state, h):
        a = 1 - g  # torch: rsub
        b = h.c / (g * g + 1)  # torch: reciprocal, then multiply
        c = h.c + a * b  # torch: t + s
        return p - h.lr * c, {"a": state["a"].lerp(c, h.w) * h.c}

    h = Scalars(lr=0.1, c=0.7, w=0.3)
    registers, expected, got, _ = run_both(rule, ("a",), h)
    assert_exact(registers, expected, got, tensors(1))


def test_state_that_trades_places_and_state_created_twice_from_one_value():
    def rule(p, g, state, h):
        twice = g * h.c
        new = {"a": state["b"], "b": state["a"], "u": twice, "v": twice, "w": g.clone(), "x": state["a"]}
        return p - twice, new

    registers, expected, got, program = run_both(rule, ("a", "b"), Scalars(c=2.0))
    assert_exact(registers, expected, got, tensors(1))
    assert any(dst >= len(registers) for dst, _ in program.moves)  # the swap parks one value first
    assert all(got[i]["u"].data_ptr() != got[i]["v"].data_ptr() for i in range(3))  # not aliased
    assert all(got[i]["w"].data_ptr() != registers[1][i].data_ptr() for i in range(3))  # not the gradient
    assert all(got[i]["x"].data_ptr() != registers[2][i].data_ptr() for i in range(3))  # not a slot


def test_maximize_and_zero_scalars_specialise_like_eager_code():
    rule = optim.Adam.rule
    h = optim.Adam.scalars(
        {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8, "eps_root": 0.0, "weight_decay": 0.1,
         "amsgrad": True, "decoupled_weight_decay": False},
        step=3.0,
    )  # fmt: skip
    registers, expected, got, _ = run_both(
        rule, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), h, maximize=True
    )
    assert_exact(registers, expected, got, tensors(1))


def test_the_update_is_in_place_and_keeps_few_temporaries():
    keys = ("exp_avg", "exp_avg_sq")
    h = optim.Adam.scalars(
        {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8, "eps_root": 0.0, "weight_decay": 0.0,
         "amsgrad": False, "decoupled_weight_decay": False},
        step=1.0,
    )  # fmt: skip
    program = foreach.Program(trace(optim.Adam.rule, h, keys, False))
    assert (
        program.moves == [] and program.n_registers - 4 <= 3
    )  # parameter and moments updated where they are
    params = [torch.randn(8, requires_grad=True) for _ in range(3)]
    opt = optim.Adam(params, foreach=True)
    for p in params:
        p.grad = torch.ones(8)
    opt.step()
    addresses = [(p.data_ptr(), opt.state[p]["exp_avg"].data_ptr()) for p in params]
    opt.step()
    assert addresses == [(p.data_ptr(), opt.state[p]["exp_avg"].data_ptr()) for p in params]


def test_a_rule_that_returns_a_number_as_state_is_refused():
    def rule(p, g, state, h):
        return p - g, {"a": h.c}

    with pytest.raises(TypeError, match="must return tensors"):
        foreach.Program(trace(rule, Scalars(c=1.0), ("a",), False))
