"""Tests for descend.schedules: closed forms, the chapter's values, torch's schedulers, resuming."""

from __future__ import annotations

import doctest
import io
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descend import schedules as S
from descend.schedules import LRScheduler

STEPS = range(0, 400, 7)


def every_kind() -> list[S.Schedule]:
    """One or two instances of every schedule, with warmups, floors and restarts exercised."""
    return [
        S.constant(0.1),
        S.factor(0.5, 0.9, stop_factor_lr=1e-3, every=3),
        S.multi_factor(0.5, [15, 30], 0.5),
        S.piecewise_constant([10, 20], [0.3, 0.1, 0.01]),
        S.exponential(0.2, 0.05),
        S.polynomial(0.1),
        S.polynomial(0.3, alpha=1.5, beta=0.2),
        S.polynomial_decay(0.1, 50, final_lr=0.001, power=2.0),
        S.linear(0.01, 0.2, 12),
        S.linear_warmup(0.2, 8, warmup_begin_lr=0.02),
        S.cosine(0.3, 20, final_lr=0.01),
        S.cosine(0.3, 20, final_lr=0.01, warmup_steps=5),
        S.cosine_warm_restarts(0.4, 5, period_mult=2, min_lr=0.01),
        S.one_cycle(0.5, 60),
        S.one_cycle(0.5, 60, pct_start=0.25, anneal_strategy="linear", three_phase=True),
        S.join([S.linear_warmup(0.2, 5), S.cosine(0.2, 40, final_lr=0.02), S.constant(0.02)], [5, 45]),
    ]


KINDS = every_kind()
KIND_IDS = [repr(s)[:60] for s in KINDS]


def values(schedule: S.Schedule, steps=STEPS) -> list[float]:
    return [schedule(t) for t in steps]


# ----------------------------------------------------------------------------------------------------------
# closed forms


def test_constant() -> None:
    assert values(S.constant(0.25)) == [0.25] * len(STEPS)


@pytest.mark.parametrize("every", [1, 4])
def test_factor_closed_form(every: int) -> None:
    s = S.factor(0.5, 0.95, stop_factor_lr=1e-3, every=every)
    for t in STEPS:
        assert s(t) == pytest.approx(max(1e-3, 0.5 * 0.95 ** (t // every)), rel=1e-13)
    assert s(0) == 0.5  # step 0 is base_lr (d2l's stateful FactorScheduler returns base_lr·factor first)
    assert s(10_000) == 1e-3


def test_multi_factor_closed_form() -> None:
    s = S.multi_factor(0.5, [15, 30], 0.5)
    for t in range(60):
        passed = sum(m <= t for m in (15, 30))
        assert s(t) == pytest.approx(0.5 * 0.5**passed, rel=1e-15)
    assert (s(14), s(15), s(29), s(30)) == (0.5, 0.25, 0.25, 0.125)


def test_piecewise_constant_closed_form() -> None:
    s = S.piecewise_constant([10, 20], [0.3, 0.1, 0.01])
    assert [s(t) for t in (0, 9, 10, 19, 20, 1000)] == [0.3, 0.3, 0.1, 0.1, 0.01, 0.01]


def test_exponential_closed_form() -> None:
    s = S.exponential(0.2, 0.05)
    for t in STEPS:
        assert s(t) == pytest.approx(0.2 * math.exp(-0.05 * t), rel=1e-13)


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 1.0), (1.5, 0.2), (0.0, 3.0)])
def test_polynomial_closed_form(alpha: float, beta: float) -> None:
    s = S.polynomial(0.3, alpha=alpha, beta=beta)
    for t in STEPS:
        assert s(t) == pytest.approx(0.3 * (beta * t + 1) ** (-alpha), rel=1e-13)


def test_polynomial_default_is_d2l_square_root_scheduler() -> None:
    # d2l's SquareRootScheduler(lr=0.1)(num_update) = lr·(num_update + 1)^(−1/2)
    s = S.polynomial(0.1)
    for t in STEPS:
        assert s(t) == pytest.approx(0.1 * pow(t + 1.0, -0.5), rel=1e-14)


def test_polynomial_decay_closed_form() -> None:
    s = S.polynomial_decay(0.1, 50, final_lr=0.001, power=2.0)
    for t in STEPS:
        expected = 0.001 + (0.1 - 0.001) * (1 - min(t, 50) / 50) ** 2
        assert s(t) == pytest.approx(expected, rel=1e-13, abs=1e-16)
    assert s(50) == pytest.approx(0.001, rel=1e-15)


def test_linear_and_linear_warmup_closed_form() -> None:
    ramp = S.linear(0.2, 0.05, 12)
    warm = S.linear_warmup(0.2, 8, warmup_begin_lr=0.02)
    for t in range(40):
        assert ramp(t) == pytest.approx(0.2 + (0.05 - 0.2) * min(t, 12) / 12, rel=1e-14)
        assert warm(t) == pytest.approx(0.02 + (0.2 - 0.02) * min(t, 8) / 8, rel=1e-14)
    assert S.linear_warmup(0.3, 0)(0) == 0.3  # no warmup: the base rate from the start


def chapter_cosine(t: int, base: float, final: float, max_update: int, warmup: int, begin: float) -> float:
    """The chapter's CosineScheduler, written out as a function of the epoch."""
    if t < warmup:
        return begin + (base - begin) * t / warmup
    if t <= max_update:
        return final + (base - final) * (1 + math.cos(math.pi * (t - warmup) / (max_update - warmup))) / 2
    return final


@pytest.mark.parametrize("warmup", [0, 5])
def test_chapter_cosine_values(warmup: int) -> None:
    s = S.cosine(0.3, 20, final_lr=0.01, warmup_steps=warmup)
    expected = [chapter_cosine(t, 0.3, 0.01, 20, warmup, 0.0) for t in range(30)]
    assert values(s, range(30)) == pytest.approx(expected, rel=1e-13, abs=1e-16)
    assert s(0) == (0.3 if warmup == 0 else 0.0)
    assert s(warmup) == pytest.approx(0.3, rel=1e-15)
    assert s(20) == pytest.approx(0.01, rel=1e-13)


def test_cosine_warmup_begin_and_all_warmup() -> None:
    s = S.cosine(1.0, 10, final_lr=0.1, warmup_steps=4, warmup_begin_lr=0.2)
    assert [s(t) for t in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0], rel=1e-14)
    # warmup as long as the schedule: ramp to base, then final_lr from max_steps on
    s = S.cosine(1.0, 4, final_lr=0.1, warmup_steps=4)
    assert values(s, range(7)) == pytest.approx([0.0, 0.25, 0.5, 0.75, 0.1, 0.1, 0.1], rel=1e-14)


def test_cosine_is_final_lr_when_first_called_past_max_steps() -> None:
    # d2l's CosineScheduler returns base_lr when its first call is past max_update
    assert S.cosine(0.3, 20, final_lr=0.01)(25) == 0.01
    assert S.cosine(0.3, 20, final_lr=0.01, warmup_steps=5)(10**9) == 0.01


def reference_restarts(t: int, base: float, t0: int, mult: int, low: float) -> float:
    """SGDR by counting cycles one at a time."""
    period, start = t0, 0
    while t >= start + period:
        start += period
        period *= mult
    return low + (base - low) * (1 + math.cos(math.pi * (t - start) / period)) / 2


@pytest.mark.parametrize(("t0", "mult"), [(5, 1), (1, 2), (3, 2), (2, 3), (7, 10)])
def test_cosine_warm_restarts_closed_form(t0: int, mult: int) -> None:
    s = S.cosine_warm_restarts(0.4, t0, period_mult=mult, min_lr=0.01)
    steps = [*range(600), 10**6 + 3, 10**7]
    got = s(torch.tensor(steps)).tolist()
    expected = [reference_restarts(t, 0.4, t0, mult, 0.01) for t in steps]
    assert got == pytest.approx(expected, rel=1e-12)


def test_cosine_warm_restarts_restart_exactly_at_cycle_starts() -> None:
    s = S.cosine_warm_restarts(1.0, 3, period_mult=3)
    starts = [0, 3, 12, 39, 120, 363, 1092, 3279, 9840, 29523]
    assert s(torch.tensor(starts)).tolist() == [1.0] * len(starts)
    # the step before each restart is the last of its cycle, of length 3·3^i
    before = s(torch.tensor([t - 1 for t in starts[1:]])).tolist()
    expected = [(1 + math.cos(math.pi * (3 * 3**i - 1) / (3 * 3**i))) / 2 for i in range(len(starts) - 1)]
    assert before == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------------------------------------
# join


def test_join_counts_each_schedule_from_its_own_start() -> None:
    warm, decay, tail = S.linear_warmup(0.2, 5), S.exponential(0.2, 0.1), S.constant(0.01)
    s = S.join([warm, decay, tail], [5, 30])
    for t in range(60):
        expected = warm(t) if t < 5 else decay(t - 5) if t < 30 else tail(t - 30)
        assert s(t) == expected


def test_join_nests() -> None:
    # torch's nested SequentialLR changes the schedule; a join of joins is the flat join
    a, b, c = S.constant(0.3), S.cosine(0.3, 10), S.exponential(0.1, 0.2)
    nested = S.join([S.join([a, b], [4]), c], [14])
    flat = S.join([a, b, c], [4, 14])
    steps = torch.arange(40)
    assert torch.equal(nested(steps), flat(steps))


def test_join_single_schedule_is_that_schedule() -> None:
    s = S.join([S.exponential(0.2, 0.3)], [])
    assert torch.equal(s(torch.arange(20)), S.exponential(0.2, 0.3)(torch.arange(20)))


# ----------------------------------------------------------------------------------------------------------
# tensors and ints


@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_tensor_and_int_steps_agree(schedule: S.Schedule) -> None:
    steps = torch.arange(0, 200)
    batch = schedule(steps)
    assert batch.dtype == torch.float64 and batch.shape == steps.shape
    singles = [schedule(int(t)) for t in steps]
    assert all(type(v) is float for v in singles)
    # one formula, evaluated by torch's kernels for tensors and by Python's math for an int: they agree to
    # the last bits (torch's vectorized exp, pow and cos may differ from libm's by an ulp)
    assert batch.tolist() == pytest.approx(singles, rel=1e-15, abs=1e-15 * schedule.peak_lr)
    grid = steps.reshape(10, 20)
    assert torch.equal(schedule(grid), batch.reshape(10, 20))
    assert torch.equal(schedule(steps.to(torch.int32)), batch)
    assert torch.equal(schedule(steps.to(torch.float32)), batch)
    assert schedule(torch.tensor(7)).shape == ()
    assert schedule(torch.empty(0, dtype=torch.long)).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(step=st.integers(0, 10**7), which=st.integers(0, len(KINDS) - 1))
def test_int_and_tensor_agree_at_any_step(step: int, which: int) -> None:
    schedule = KINDS[which]
    tensor = schedule(torch.tensor([step]))
    assert tensor.tolist() == [pytest.approx(schedule(step), rel=1e-15, abs=1e-15 * schedule.peak_lr)]


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_steps_on_a_device_stay_there(schedule: S.Schedule, device: str) -> None:
    steps = torch.arange(0, 300, device=device)
    got = schedule(steps)
    assert got.device == steps.device and got.dtype == torch.float64
    assert got.cpu().tolist() == pytest.approx(
        schedule(steps.cpu()).tolist(), rel=1e-14, abs=1e-15 * schedule.peak_lr
    )


@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_values_are_finite_and_bounded_by_peak(schedule: S.Schedule) -> None:
    v = schedule(torch.arange(0, 3000))
    assert torch.isfinite(v).all()
    assert (v >= 0).all()
    assert v.max().item() <= schedule.peak_lr * (1 + 1e-12)


def test_numpy_integers_are_steps() -> None:
    assert S.exponential(1.0, 0.5)(np.int64(3)) == pytest.approx(math.exp(-1.5), rel=1e-15)


@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_negative_step_raises(schedule: S.Schedule) -> None:
    with pytest.raises(ValueError, match=r"Invalid step: -3; expected step >= 0"):
        schedule(-3)
    with pytest.raises(ValueError, match=r"Invalid step: -2\.0; expected step >= 0"):
        schedule(torch.tensor([0, 5, -2]))


@pytest.mark.parametrize("step", [1.5, "3", None, True, torch.tensor([True]), torch.tensor([1j])])
def test_step_of_wrong_type_raises(step: object) -> None:
    with pytest.raises(TypeError, match="Invalid step"):
        S.constant(0.1)(step)


def test_evaluating_has_no_effect() -> None:
    # pure functions: evaluating out of order, or all at once, changes nothing
    s = S.factor(1.0, 0.5)
    first = [s(t) for t in range(10)]
    s(torch.arange(1000))
    s(500)
    assert [s(t) for t in reversed(range(10))] == first[::-1]


# ----------------------------------------------------------------------------------------------------------
# pickling, repr, registry


@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_pickle_round_trip(schedule: S.Schedule) -> None:
    back = pickle.loads(pickle.dumps(schedule))
    assert back == schedule and repr(back) == repr(schedule)
    assert torch.equal(back(torch.arange(100)), schedule(torch.arange(100)))


@pytest.mark.parametrize("schedule", KINDS, ids=KIND_IDS)
def test_repr_reads_like_the_call(schedule: S.Schedule) -> None:
    text = repr(schedule)
    assert text.startswith(type(schedule).__name__ + "(")
    assert eval(text, vars(S)) == schedule


def test_repr_of_cosine() -> None:
    assert repr(S.cosine(0.3, 20, final_lr=0.01, warmup_steps=5)) == (
        "cosine(base_lr=0.3, max_steps=20, final_lr=0.01, warmup_steps=5, warmup_begin_lr=0.0)"
    )
    assert repr(S.join([S.constant(1), S.constant(0.5)], [3])) == (
        "join(schedules=(constant(lr=1.0), constant(lr=0.5)), boundaries=(3,))"
    )


def test_schedules_are_immutable() -> None:
    s = S.cosine(0.3, 20)
    with pytest.raises(AttributeError):
        s.base_lr = 1.0  # type: ignore[misc]


def test_names_and_get() -> None:
    assert S.names() == [
        "constant",
        "factor",
        "multi_factor",
        "piecewise_constant",
        "exponential",
        "polynomial",
        "polynomial_decay",
        "linear",
        "linear_warmup",
        "cosine",
        "cosine_warm_restarts",
        "one_cycle",
        "join",
    ]
    assert S.get("cosine")(0.1, max_steps=10) == S.cosine(0.1, 10)
    with pytest.raises(ValueError, match=r"Invalid name: 'cosin'; expected one of constant, factor"):
        S.get("cosin")


def test_module_examples() -> None:
    result = doctest.testmod(S, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------------------
# equality with torch's schedulers


def lrs_of(make_scheduler, steps: int, lrs=(0.1,), optimizer=torch.optim.SGD, **kwargs) -> list[list[float]]:
    """The lr of each group at steps 0..steps-1, stepping the optimizer and the scheduler in turn."""
    params = [torch.zeros(2, requires_grad=True) for _ in lrs]
    opt = optimizer([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)], **kwargs)
    sched = make_scheduler(opt)
    seen = []
    for step in range(steps):
        seen.append([float(g["lr"]) for g in opt.param_groups])
        if step < steps - 1:  # torch's OneCycleLR may not be stepped past its last step
            opt.step()
            sched.step()
    return seen


def ours(schedule: S.Schedule, **kwargs):
    return lambda opt: LRScheduler(opt, schedule, **kwargs)


def assert_same(a: list[list[float]], b: list[list[float]], rel: float = 1e-12) -> None:
    assert len(a) == len(b)
    for step, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == pytest.approx(y, rel=rel, abs=1e-15), f"step {step}"


def test_matches_multistep_lr() -> None:
    theirs = lrs_of(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [15, 30], gamma=0.5), 50, (0.5,))
    assert_same(lrs_of(ours(S.multi_factor(0.5, [15, 30], 0.5)), 50, (0.5,)), theirs)


def test_matches_step_lr() -> None:
    theirs = lrs_of(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.7), 60, (0.2,))
    assert_same(lrs_of(ours(S.factor(0.2, 0.7, stop_factor_lr=0.0, every=4)), 60, (0.2,)), theirs)


def test_matches_exponential_lr() -> None:
    theirs = lrs_of(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 100, (0.3,))
    assert_same(lrs_of(ours(S.exponential(0.3, -math.log(0.9))), 100, (0.3,)), theirs, rel=1e-11)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_matches_cosine_annealing_lr(eta_min: float) -> None:
    make = lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=eta_min)  # noqa: E731
    theirs = lrs_of(make, 21, (0.3,))
    assert_same(lrs_of(ours(S.cosine(0.3, 20, final_lr=eta_min)), 21, (0.3,)), theirs, rel=1e-10)


@pytest.mark.parametrize(("start", "end", "iters"), [(1 / 3, 1.0, 5), (1.0, 0.1, 12), (0.25, 0.0, 7)])
def test_matches_linear_lr(start: float, end: float, iters: int) -> None:
    make = lambda o: torch.optim.lr_scheduler.LinearLR(o, start, end, total_iters=iters)  # noqa: E731
    theirs = lrs_of(make, 3 * iters, (0.2,))
    assert_same(lrs_of(ours(S.linear(0.2 * start, 0.2 * end, iters)), 3 * iters, (0.2,)), theirs, rel=1e-11)


@pytest.mark.parametrize("power", [1.0, 0.9, 2.0])
def test_matches_polynomial_lr(power: float) -> None:
    make = lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=30, power=power)  # noqa: E731
    theirs = lrs_of(make, 45, (0.05,))
    assert_same(lrs_of(ours(S.polynomial_decay(0.05, 30, power=power)), 45, (0.05,)), theirs, rel=1e-11)


@pytest.mark.parametrize(("t0", "mult", "eta_min"), [(10, 1, 0.0), (3, 2, 0.001), (2, 3, 0.01)])
def test_matches_cosine_annealing_warm_restarts(t0: int, mult: int, eta_min: float) -> None:
    make = lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, t0, mult, eta_min)  # noqa: E731
    theirs = lrs_of(make, 150, (0.1,))
    mine = lrs_of(ours(S.cosine_warm_restarts(0.1, t0, period_mult=mult, min_lr=eta_min)), 150, (0.1,))
    assert_same(mine, theirs)


ONE_CYCLE_CASES = [
    {},
    {"pct_start": 0.25, "anneal_strategy": "linear"},
    {"pct_start": 0.4, "three_phase": True},
    {"pct_start": 0.2, "anneal_strategy": "linear", "three_phase": True, "div_factor": 10.0},
    {"pct_start": 0.0, "final_div_factor": 100.0},
    {"pct_start": 1.0},
]


# torch divides by zero when pct_start·total_steps = 1 (test_one_cycle_short_phases covers ours there)
ONE_CYCLE_RUNS = [
    (case, total)
    for case in ONE_CYCLE_CASES
    for total in (1, 2, 5, 37, 100)
    if total * case.get("pct_start", 0.3) != 1.0
]


@pytest.mark.parametrize(("case", "total"), ONE_CYCLE_RUNS)
def test_matches_one_cycle_lr(case: dict, total: int) -> None:
    make = lambda o: torch.optim.lr_scheduler.OneCycleLR(  # noqa: E731
        o, max_lr=0.8, total_steps=total, cycle_momentum=False, **case
    )
    theirs = lrs_of(make, total, (0.1,))
    assert_same(lrs_of(ours(S.one_cycle(0.8, total, **case)), total, (0.1,)), theirs)


def test_one_cycle_short_phases_and_after_the_end() -> None:
    # pct_start·N = 1: the rising phase is step 0 alone, which is at max_lr
    s = S.one_cycle(1.0, 4, pct_start=0.25)
    assert s(0) == 1.0 and s(3) == pytest.approx(1.0 / 25 / 1e4, rel=1e-12)
    # past the last step the rate stays at its final value
    s = S.one_cycle(1.0, 50)
    assert s(torch.arange(49, 200)).unique().tolist() == [pytest.approx(4e-6, rel=1e-12)]


def test_one_cycle_with_per_group_max_lr_matches_torch() -> None:
    # groups with different lrs: each group's lr is its max_lr, as with OneCycleLR(max_lr=[...])
    make = lambda o: torch.optim.lr_scheduler.OneCycleLR(  # noqa: E731
        o, max_lr=[0.8, 0.08], total_steps=40, cycle_momentum=False
    )
    theirs = lrs_of(make, 40, (0.8, 0.08))
    assert_same(lrs_of(ours(S.one_cycle(1.0, 40)), 40, (0.8, 0.08)), theirs)


# ----------------------------------------------------------------------------------------------------------
# LRScheduler


def test_scheduler_sets_schedule_values_and_get_last_lr() -> None:
    s = S.cosine(0.3, 20, final_lr=0.01, warmup_steps=5)
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([w], lr=123.0)
    sched = LRScheduler(opt, s)
    for t in range(30):
        assert opt.param_groups[0]["lr"] == s(t)
        assert sched.get_last_lr() == [s(t)]
        assert sched.last_epoch == t
        opt.step()
        sched.step()


def test_scheduler_groups_equal_all_get_the_schedule() -> None:
    s = S.exponential(0.2, 0.1)
    seen = lrs_of(ours(s), 20, (0.5, 0.5, 0.5))
    assert seen == [[s(t)] * 3 for t in range(20)]


def test_scheduler_groups_differ_scale_by_schedule_over_its_start() -> None:
    s = S.multi_factor(0.5, [3, 6], 0.1)
    seen = lrs_of(ours(s), 10, (0.1, 0.02))
    for t, lrs in enumerate(seen):
        assert lrs == pytest.approx([0.1 * s(t) / s(0), 0.02 * s(t) / s(0)], rel=1e-14)


def test_scheduler_groups_differ_with_warmup_from_zero() -> None:
    # schedule(0) = 0: groups start at 0 and each reaches its own initial lr when warmup ends
    s = S.cosine(1.0, 20, final_lr=0.1, warmup_steps=4)
    seen = lrs_of(ours(s), 25, (0.1, 0.01))
    assert seen[0] == [0.0, 0.0]
    assert seen[2] == pytest.approx([0.05, 0.005], rel=1e-14)
    assert seen[4] == pytest.approx([0.1, 0.01], rel=1e-14)
    for t, lrs in enumerate(seen):
        assert lrs == pytest.approx([0.1 * s(t), 0.01 * s(t)], rel=1e-14, abs=1e-18)
        assert max(lrs) <= 0.1 * (1 + 1e-14)


def test_scheduler_scale_groups_forced() -> None:
    s = S.exponential(0.2, 0.1)
    same = lrs_of(ours(s, scale_groups=True), 10, (0.4, 0.4))
    assert same == [pytest.approx([0.4 * s(t) / 0.2] * 2, rel=1e-14) for t in range(10)]
    absolute = lrs_of(ours(s, scale_groups=False), 10, (0.4, 0.04))
    assert absolute == [[s(t), s(t)] for t in range(10)]


def test_scheduler_zero_schedule_with_groups() -> None:
    assert lrs_of(ours(S.constant(0.0)), 3, (0.1, 0.2)) == [[0.0, 0.0]] * 3


def test_scheduler_tensor_lr_groups() -> None:
    s = S.cosine(0.3, 10)
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([w], lr=torch.tensor(0.3))
    lr_tensor = opt.param_groups[0]["lr"]
    sched = LRScheduler(opt, s)
    for t in range(12):
        assert opt.param_groups[0]["lr"] is lr_tensor  # updated in place, as torch does
        assert lr_tensor.item() == pytest.approx(s(t), rel=1e-6)
        opt.step()
        sched.step()


def run(schedule: S.Schedule, steps: int, lrs=(0.1, 0.03), stop_at: int | None = None) -> list[list[float]]:
    """Train a tiny model for `steps` steps, optionally checkpointing and resuming at `stop_at`."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 3), torch.randn(16)

    def make():
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(
            [{"params": [model.weight], "lr": lrs[0]}, {"params": [model.bias], "lr": lrs[1]}], momentum=0.9
        )
        return model, opt, LRScheduler(opt, schedule)

    model, opt, sched = make()
    seen = []
    for step in range(steps):
        if step == stop_at:
            buffer = io.BytesIO()
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buffer
            )
            del model, opt, sched
            buffer.seek(0)
            checkpoint = torch.load(buffer, weights_only=True)
            model, opt, sched = make()
            model.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["opt"])
            sched.load_state_dict(checkpoint["sched"])
        seen.append([g["lr"] for g in opt.param_groups] + [model.weight.detach().clone()])
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return seen


@pytest.mark.parametrize("stop_at", [1, 7, 23])
@pytest.mark.parametrize("lrs", [(0.1, 0.1), (0.1, 0.03)])
def test_scheduler_resume_is_exact(stop_at: int, lrs: tuple[float, float]) -> None:
    schedule = S.join([S.linear_warmup(0.1, 5), S.cosine_warm_restarts(0.1, 6, 2, min_lr=0.001)], [5])
    straight = run(schedule, 40, lrs)
    resumed = run(schedule, 40, lrs, stop_at=stop_at)
    for step, (a, b) in enumerate(zip(straight, resumed, strict=True)):
        assert a[:2] == b[:2], f"lr at step {step}"
        assert torch.equal(a[2], b[2]), f"weights at step {step}"


def test_scheduler_load_state_dict_alone_sets_the_lr() -> None:
    # only the scheduler's state restored (or the optimizer's loaded first): groups get the lr of the step
    s = S.exponential(0.2, 0.1)
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.2)
    sched = LRScheduler(opt, s)
    for _ in range(9):
        opt.step()
        sched.step()
    state = sched.state_dict()
    fresh_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.2)
    fresh = LRScheduler(fresh_opt, s)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 9 and fresh_opt.param_groups[0]["lr"] == s(9) == fresh.get_last_lr()[0]
    fresh_opt.step()
    fresh.step()
    assert fresh_opt.param_groups[0]["lr"] == s(10)


def test_scheduler_state_dict_is_plain_and_weights_only_loadable() -> None:
    w = torch.zeros(2, requires_grad=True)
    sched = LRScheduler(torch.optim.SGD([w], lr=0.1), S.cosine(0.1, 10))
    state = sched.state_dict()
    assert set(state) == {"last_epoch", "_step_count", "base_lrs", "_last_lr", "scale_groups"}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True) == state


def test_scheduler_last_epoch_resumes_by_hand() -> None:
    s = S.exponential(0.2, 0.1)
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.2)
    opt.param_groups[0]["initial_lr"] = 0.2
    sched = LRScheduler(opt, s, last_epoch=4)
    assert sched.last_epoch == 5 and opt.param_groups[0]["lr"] == s(5)


def test_scheduler_is_a_torch_lr_scheduler() -> None:
    w = torch.zeros(2, requires_grad=True)
    assert isinstance(
        LRScheduler(torch.optim.SGD([w]), S.constant(0.1)), torch.optim.lr_scheduler.LRScheduler
    )


# ----------------------------------------------------------------------------------------------------------
# monotonicity


def diffs(schedule: S.Schedule, start: int, stop: int) -> torch.Tensor:
    return torch.diff(schedule(torch.arange(start, stop)))


rates = st.floats(1e-6, 10.0)
fractions = st.floats(0.01, 1.0)
SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(base=rates, f=fractions, stop=st.floats(0.0, 1.0), every=st.integers(1, 20))
def test_factor_never_increases(base: float, f: float, stop: float, every: int) -> None:
    assert (diffs(S.factor(base, f, stop_factor_lr=stop * base, every=every), 0, 300) <= 0).all()


@SETTINGS
@given(base=rates, f=fractions, milestones=st.lists(st.integers(1, 500), min_size=1, max_size=6, unique=True))
def test_multi_factor_never_increases(base: float, f: float, milestones: list[int]) -> None:
    assert (diffs(S.multi_factor(base, sorted(milestones), f), 0, 600) <= 0).all()


@SETTINGS
@given(base=rates, rate=st.floats(0.0, 5.0), alpha=st.floats(0.0, 3.0), beta=st.floats(0.0, 5.0))
def test_exponential_and_polynomial_never_increase(
    base: float, rate: float, alpha: float, beta: float
) -> None:
    assert (diffs(S.exponential(base, rate), 0, 300) <= 0).all()
    assert (diffs(S.polynomial(base, alpha, beta), 0, 300) <= 0).all()


@SETTINGS
@given(base=rates, low=fractions, total=st.integers(1, 300), power=st.floats(0.1, 5.0))
def test_polynomial_decay_never_increases(base: float, low: float, total: int, power: float) -> None:
    assert (diffs(S.polynomial_decay(base, total, final_lr=low * base, power=power), 0, 400) <= 0).all()


@SETTINGS
@given(
    base=rates,
    low=fractions,
    begin=fractions,
    total=st.integers(1, 300),
    warm=st.floats(0.0, 1.0),
)
def test_cosine_rises_in_warmup_then_never_increases(
    base: float, low: float, begin: float, total: int, warm: float
) -> None:
    w = int(warm * total)
    s = S.cosine(base, total, final_lr=low * base, warmup_steps=w, warmup_begin_lr=begin * base)
    # the warmup rises to base_lr at step w (when w = T, step T is already final_lr)
    assert (diffs(s, 0, min(w + 1, total)) >= 0).all()
    assert (diffs(s, w, total + 50) <= 0).all()


@SETTINGS
@given(base=rates, low=fractions, t0=st.integers(1, 30), mult=st.integers(1, 4))
def test_warm_restarts_never_increase_within_a_cycle(base: float, low: float, t0: int, mult: int) -> None:
    s = S.cosine_warm_restarts(base, t0, mult, min_lr=low * base)
    starts, period = {0}, t0
    while max(starts) < 500:
        starts.add(max(starts) + period)
        period *= mult
    d = torch.diff(s(torch.arange(0, 500)))
    restart = torch.tensor([t in starts for t in range(1, 500)])
    assert (d[~restart] <= 0).all() and (d[restart] >= 0).all()


@SETTINGS
@given(
    peak=rates,
    total=st.integers(1, 300),
    pct=st.floats(0.0, 0.5),
    strategy=st.sampled_from(["cos", "linear"]),
    three=st.booleans(),
)
def test_one_cycle_rises_then_falls(peak: float, total: int, pct: float, strategy: str, three: bool) -> None:
    s = S.one_cycle(peak, total, pct_start=pct, anneal_strategy=strategy, three_phase=three)
    v = s(torch.arange(0, total + 20))
    top = int(torch.argmax(v))
    assert (torch.diff(v[: top + 1]) >= 0).all()
    assert (torch.diff(v[top:]) <= 0).all()
    assert v.max().item() <= peak * (1 + 1e-12)


@SETTINGS
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0), n=st.integers(1, 100))
def test_linear_is_monotone_towards_its_end(a: float, b: float, n: int) -> None:
    d = diffs(S.linear(a, b, n), 0, n + 20)
    assert (d >= 0).all() if b >= a else (d <= 0).all()


# ----------------------------------------------------------------------------------------------------------
# validation


INVALID = [
    (S.constant, (-0.1,), {}, ValueError, r"Invalid lr: -0\.1; expected lr >= 0"),
    (S.constant, (float("nan"),), {}, ValueError, r"Invalid lr: nan; expected a finite number"),
    (S.constant, ("0.1",), {}, TypeError, r"Invalid lr: '0\.1'; expected a real number"),
    (S.constant, (True,), {}, TypeError, r"Invalid lr: True; expected a real number"),
    (S.factor, (-1.0, 0.5), {}, ValueError, r"Invalid base_lr: -1\.0; expected base_lr >= 0"),
    (S.factor, (0.1, 0.0), {}, ValueError, r"Invalid factor: 0\.0; expected 0 < factor <= 1"),
    (S.factor, (0.1, 1.5), {}, ValueError, r"Invalid factor: 1\.5; expected 0 < factor <= 1"),
    (S.factor, (0.1, 0.5), {"stop_factor_lr": -1e-3}, ValueError, r"Invalid stop_factor_lr: -0\.001"),
    (
        S.factor,
        (0.1, 0.5),
        {"stop_factor_lr": 0.2},
        ValueError,
        r"stop_factor_lr: 0\.2; .*<= base_lr \(0\.1\)",
    ),
    (S.factor, (0.1, 0.5), {"every": 0}, ValueError, r"Invalid every: 0; expected every >= 1"),
    (S.factor, (0.1, 0.5), {"every": 2.5}, TypeError, r"Invalid every: 2\.5; expected an integer"),
    (S.multi_factor, (0.1, [30, 15], 0.5), {}, ValueError, r"Invalid milestones: \[30, 15\]; .*increasing"),
    (S.multi_factor, (0.1, [15, 15], 0.5), {}, ValueError, r"Invalid milestones: \[15, 15\]; .*increasing"),
    (S.multi_factor, (0.1, [0, 15], 0.5), {}, ValueError, r"Invalid milestones\[0\]: 0; expected .* >= 1"),
    (S.multi_factor, (0.1, 15, 0.5), {}, TypeError, r"Invalid milestones: 15; expected a sequence"),
    (S.multi_factor, (0.1, [15], 2.0), {}, ValueError, r"Invalid factor: 2\.0; expected 0 < factor <= 1"),
    (S.multi_factor, (-0.1, [15], 0.5), {}, ValueError, r"Invalid base_lr: -0\.1"),
    (S.piecewise_constant, ([10, 5], [1, 2, 3]), {}, ValueError, r"Invalid boundaries: \[10, 5\]"),
    (
        S.piecewise_constant,
        ([10], [1, 2, 3]),
        {},
        ValueError,
        r"Invalid values: \[1\.0, 2\.0, 3\.0\]; .* = 2",
    ),
    (S.piecewise_constant, ([10], [1, -2]), {}, ValueError, r"Invalid values\[1\]: -2; expected .* >= 0"),
    (S.piecewise_constant, ([10], 0.1), {}, TypeError, r"Invalid values: 0\.1; expected a sequence"),
    (S.exponential, (-0.1, 0.1), {}, ValueError, r"Invalid base_lr: -0\.1"),
    (S.exponential, (0.1, -0.1), {}, ValueError, r"Invalid rate: -0\.1; expected rate >= 0"),
    (S.polynomial, (-0.1,), {}, ValueError, r"Invalid base_lr: -0\.1"),
    (S.polynomial, (0.1,), {"alpha": -0.5}, ValueError, r"Invalid alpha: -0\.5; expected alpha >= 0"),
    (S.polynomial, (0.1,), {"beta": -1}, ValueError, r"Invalid beta: -1; expected beta >= 0"),
    (S.polynomial_decay, (0.1, 0), {}, ValueError, r"Invalid total_steps: 0; expected total_steps >= 1"),
    (S.polynomial_decay, (0.1, 10), {"final_lr": -1.0}, ValueError, r"Invalid final_lr: -1\.0"),
    (S.polynomial_decay, (0.1, 10), {"power": 0.0}, ValueError, r"Invalid power: 0\.0; expected power > 0"),
    (S.linear, (-0.1, 0.1, 5), {}, ValueError, r"Invalid start_lr: -0\.1"),
    (S.linear, (0.1, -0.1, 5), {}, ValueError, r"Invalid end_lr: -0\.1"),
    (S.linear, (0.1, 0.2, 0), {}, ValueError, r"Invalid steps: 0; expected steps >= 1"),
    (S.linear_warmup, (0.1, -1), {}, ValueError, r"Invalid warmup_steps: -1; expected warmup_steps >= 0"),
    (S.linear_warmup, (0.1, 5), {"warmup_begin_lr": -1.0}, ValueError, r"Invalid warmup_begin_lr: -1\.0"),
    (S.cosine, (-0.3, 20), {}, ValueError, r"Invalid base_lr: -0\.3; expected base_lr >= 0"),
    (S.cosine, (0.3, 0), {}, ValueError, r"Invalid max_steps: 0; expected max_steps >= 1"),
    (
        S.cosine,
        (0.3, 20),
        {"warmup_steps": 21},
        ValueError,
        r"Invalid warmup_steps: 21; .*<= max_steps \(20\)",
    ),
    (S.cosine, (0.3, 20), {"warmup_steps": -1}, ValueError, r"Invalid warmup_steps: -1"),
    (S.cosine, (0.3, 20), {"final_lr": -0.01}, ValueError, r"Invalid final_lr: -0\.01"),
    (S.cosine, (0.3, 20), {"warmup_begin_lr": -0.01}, ValueError, r"Invalid warmup_begin_lr: -0\.01"),
    (S.cosine, (0.3, 20.0), {}, TypeError, r"Invalid max_steps: 20\.0; expected an integer"),
    (S.cosine_warm_restarts, (0.1, 0), {}, ValueError, r"Invalid period: 0; expected period >= 1"),
    (
        S.cosine_warm_restarts,
        (0.1, 5, 0),
        {},
        ValueError,
        r"Invalid period_mult: 0; expected period_mult >= 1",
    ),
    (S.cosine_warm_restarts, (0.1, 5, 1.5), {}, TypeError, r"Invalid period_mult: 1\.5; expected an integer"),
    (S.cosine_warm_restarts, (0.1, 5), {"min_lr": -1.0}, ValueError, r"Invalid min_lr: -1\.0"),
    (S.one_cycle, (-1.0, 10), {}, ValueError, r"Invalid max_lr: -1\.0"),
    (S.one_cycle, (1.0, 0), {}, ValueError, r"Invalid total_steps: 0; expected total_steps >= 1"),
    (
        S.one_cycle,
        (1.0, 10),
        {"pct_start": 1.2},
        ValueError,
        r"Invalid pct_start: 1\.2; expected 0 <= pct_start",
    ),
    (
        S.one_cycle,
        (1.0, 10),
        {"pct_start": 0.6, "three_phase": True},
        ValueError,
        r"pct_start: 0\.6; .*<= 0\.5",
    ),
    (S.one_cycle, (1.0, 10), {"anneal_strategy": "cosine"}, ValueError, r"Invalid anneal_strategy: 'cosine'"),
    (
        S.one_cycle,
        (1.0, 10),
        {"div_factor": 0.0},
        ValueError,
        r"Invalid div_factor: 0\.0; expected div_factor > 0",
    ),
    (S.one_cycle, (1.0, 10), {"final_div_factor": -1}, ValueError, r"Invalid final_div_factor: -1;"),
    (S.one_cycle, (1.0, 10), {"three_phase": 1}, TypeError, r"Invalid three_phase: 1; expected a bool"),
    (S.join, ([S.constant(1.0)], [5]), {}, ValueError, r"Invalid boundaries: \[5\]; .* = 0, got 1"),
    (S.join, ([S.constant(1.0)] * 3, [5, 5]), {}, ValueError, r"Invalid boundaries: \[5, 5\]; .*increasing"),
    (S.join, ([], []), {}, ValueError, r"Invalid schedules: \[\]; expected at least one schedule"),
    (S.join, ([S.constant(1.0), lambda t: 0.1], [5]), {}, TypeError, r"Invalid schedules\[1\]: <function"),
    (S.join, (S.constant(1.0), []), {}, TypeError, r"Invalid schedules: constant\(lr=1\.0\)"),
]


@pytest.mark.parametrize(("make", "args", "kwargs", "error", "message"), INVALID)
def test_invalid_arguments(make, args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make(*args, **kwargs)


def test_invalid_scheduler_arguments() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match=r"Invalid schedule: <function"):
        LRScheduler(opt, lambda t: 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Invalid scale_groups: 'yes'; expected None, True or False"):
        LRScheduler(opt, S.constant(0.1), scale_groups="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Invalid last_epoch: -2; expected an integer >= -1"):
        LRScheduler(opt, S.constant(0.1), last_epoch=-2)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        LRScheduler(object(), S.constant(0.1))  # type: ignore[arg-type]
    sched = LRScheduler(opt, S.constant(0.1))
    with pytest.raises(ValueError, match=r"Invalid state_dict: keys \['base_lrs'\]; expected a 'last_epoch'"):
        sched.load_state_dict({"base_lrs": [0.1]})
    with pytest.raises(ValueError, match=r"Invalid state_dict: 2 base_lrs for 1 parameter groups"):
        sched.load_state_dict({"last_epoch": 3, "base_lrs": [0.1, 0.2]})
