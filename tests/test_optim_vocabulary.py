"""The rule vocabulary: every element-wise operation on every backend, and what is not element-wise."""

from __future__ import annotations

import importlib.util
import multiprocessing
import threading
import time
import warnings
from types import SimpleNamespace as Scalars

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from descend import optim
from descend.optim.engine import dispatch, foreach, loop, threads
from descend.optim.engine.c import C_BACKEND, codegen, kernel
from descend.optim.engine.graph import COMPARISONS, NUMBERS_ONLY, OPS, NotElementwise, not_elementwise, trace
from descend.optim.engine.triton import codegen as triton_codegen
from descend.optim.optimizer import Optimizer
from descend.optim.rule import nonnegative, zeros


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path_factory.getbasetemp() / "descend-cache"))
    monkeypatch.delenv("DESCEND_BACKEND", raising=False)


def every_op(p, g, state, h):
    """A rule that uses each operation of the vocabulary, with numbers and tensors on either side."""
    a = state["a"]
    t = (g * a).sign()
    picked = torch.where(t > 0, h.up, torch.where(t < 0, h.down, torch.where(t == 0, 1.0, t)))
    clipped = (a * picked).clamp(h.low, h.high)
    m = torch.maximum(a.abs(), g.abs() + h.eps).minimum(clipped + 1.0)
    masked = torch.where(g >= h.low, g, 0.0) + torch.where(g <= -h.low, -g, 0.0)
    other = torch.where(g != a, a.lerp(g, h.w), -a) + torch.where(a == g, 1.0, 0.0)
    return p - h.lr * (m.sqrt() + masked / m) + other, {"a": clipped}


H = Scalars(up=1.2, down=0.5, low=0.05, high=2.0, eps=1e-3, w=0.3, lr=0.1)


def tensors(seed: int, dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = [torch.randn(40, generator=gen, dtype=dtype), torch.randn(6, 5, generator=gen, dtype=dtype)]
    out[0][:4] = torch.tensor([0.0, float("nan"), -0.0, 0.05])  # zeros, NaN and a tie with a bound
    return out


def test_every_operation_has_a_form_on_every_backend():
    assert set(OPS) | NUMBERS_ONLY == set(foreach._SCALAR)
    assert set(OPS) | NUMBERS_ONLY == set(codegen.C_OPS)
    assert set(OPS) == set(triton_codegen.TENSOR_OPS)
    assert set(OPS) | NUMBERS_ONLY == set(triton_codegen.NUMBER_OPS)
    for op in OPS:
        assert op in foreach._PER_TENSOR or op in foreach._IN_PLACE or op in COMPARISONS
    assert set(foreach._PER_TENSOR) >= COMPARISONS


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_the_vocabulary_runs_the_same_on_the_loop_the_program_and_the_kernels(dtype, monkeypatch):
    class EveryOp(Optimizer):
        @staticmethod
        def init_state(param, group):
            return {"a": torch.full_like(param, 0.7)}

        @staticmethod
        def scalars(group, step):
            return H

        rule = staticmethod(every_op)

    results = []
    kernels = ["triton"] if importlib.util.find_spec("triton") else []  # the extra `make test` installs
    for path in ({"foreach": False}, {"foreach": True}, {"fused": True}, *kernels):
        params = [t.requires_grad_() for t in tensors(0, dtype)]
        if path == "triton":  # through Triton's interpreter
            monkeypatch.setenv("TRITON_INTERPRET", "1")
            monkeypatch.setenv("DESCEND_BACKEND", "triton")
            path = {}
        opt = EveryOp(params, {"foreach": None, "fused": None, **path})
        for step in range(3):
            for p, g in zip(params, tensors(step + 1, dtype), strict=True):
                p.grad = g
            opt.step()
        results.append([t.detach() for p in params for t in (p, opt.state[p]["a"])])
    for a, b in zip(results[0], results[1], strict=True):
        assert torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a.nan_to_num(), b.nan_to_num())
    for compiled in results[2:]:
        for a, b in zip(results[0], compiled, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, equal_nan=True)


def test_a_comparison_is_only_a_condition_and_a_rule_cannot_branch_on_values():
    with pytest.raises(TypeError, match=r"can only be the condition of torch\.where"):
        trace(lambda p, g, s, h: (p - (g > 0), {}), Scalars(), (), False)
    with pytest.raises(TypeError, match="cannot branch on a tensor's values"):
        trace(lambda p, g, s, h: (p - g if g > 0 else p, {}), Scalars(), (), False)


def test_a_reduction_or_a_matrix_product_is_not_element_wise():
    h = Scalars(lr=0.1)
    assert not_elementwise(lambda p, g, s, h: (p - h.lr * g, {}), h, (), False) is None
    normalized = lambda p, g, s, h: (p - g / torch.linalg.vector_norm(g), {})  # noqa: E731
    # a per-tensor norm: element-wise only for a backend that computes it (the C kernel)
    assert "vector_norm" in not_elementwise(normalized, h, (), False)
    assert not_elementwise(normalized, h, (), False, reductions=True) is None
    with pytest.raises(NotElementwise, match="vector_norm"):
        foreach.program(normalized, h, (), False)
    along = lambda p, g, s, h: (p - g / torch.linalg.vector_norm(g, dim=0), {})  # noqa: E731
    assert "2-norm of a whole tensor" in not_elementwise(along, h, (), False, reductions=True)
    assert "matrix product" in not_elementwise(lambda p, g, s, h: (p - g @ g, {}), h, (), False)
    assert "Tensor.mean" in not_elementwise(lambda p, g, s, h: (p - g.mean(), {}), h, (), False)
    lamb = optim.LAMB([zeros(torch.ones(1))])
    h = optim.LAMB.scalars(lamb.defaults, 1.0)
    assert "vector_norm" in not_elementwise(optim.LAMB.rule, h, ("exp_avg", "exp_avg_sq"), False)
    both = lambda p, g, s, h: (p - ((g > 0) & (p > 0)), {})  # noqa: E731
    assert "logical operator" in not_elementwise(both, h, (), False)
    with pytest.raises(NotElementwise):
        foreach.program(optim.LAMB.rule, h, ("exp_avg", "exp_avg_sq"), False)


class Normalized(Optimizer):
    """SGD on the gradient divided by its norm: a rule with a reduction."""

    def __init__(self, params, lr=0.1, fused=None, foreach=None):
        super().__init__(params, dict(lr=lr, fused=fused, foreach=foreach, maximize=False))

    @staticmethod
    def check(group):
        nonnegative("lr", group["lr"])

    @staticmethod
    def scalars(group, step):
        return Scalars(lr=group["lr"])

    @staticmethod
    def rule(p, g, state, h):
        return p - h.lr * g / torch.linalg.vector_norm(g), {}


class Centered(Normalized):
    """SGD on the gradient less its mean: a rule that is not element-wise on any backend."""

    @staticmethod
    def rule(p, g, state, h):
        return p - h.lr * (g - g.mean()), {}


@pytest.mark.parametrize("path", [{}, {"foreach": True}, {"foreach": False}])
def test_a_rule_that_is_not_element_wise_runs_per_tensor_on_every_path(path, monkeypatch):
    ran = []
    for backend in (dispatch.LOOP, dispatch.STACKED):
        monkeypatch.setattr(backend, "run", lambda batch, run=backend.run: ran.append(1) or run(batch))
    p = torch.tensor([3.0, 5.0], requires_grad=True)
    opt = Centered([p], **path)
    p.grad = torch.tensor([3.0, 5.0])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([3.1, 4.9]))
    assert ran and not opt._plans.get(0)
    with pytest.raises(RuntimeError, match=r"Centered has no fused kernel: its update is not element-wise"):
        q = torch.ones(2, requires_grad=True)
        q.grad = torch.ones(2)
        Centered([q], fused=True).step()


class TwoLevels(Normalized):
    """A norm of a value computed from a norm: two passes over the elements before the update."""

    @staticmethod
    def rule(p, g, state, h):
        u = g / torch.linalg.vector_norm(g).clamp(min=1e-12)
        step = u / (torch.linalg.vector_norm(u + p) / (p.numel() ** 0.5 + 1) + 1)
        return p - h.lr * step, {"moved": step.abs()}


class LAMB(optim.LAMB):
    def __init__(self, params, **path):
        super().__init__(params, weight_decay=0.1, **path)


class LARS(optim.LARS):
    def __init__(self, params, **path):
        super().__init__(params, momentum=0.9, weight_decay=0.01, **path)


@pytest.mark.parametrize("rule", [Normalized, TwoLevels, LAMB, LARS])
def test_the_c_kernel_computes_per_tensor_norms_as_the_per_tensor_loop(rule, monkeypatch):
    ran = []
    monkeypatch.setattr(C_BACKEND, "run", lambda batch, run=C_BACKEND.run: ran.append(1) or run(batch))
    # one tensor longer than a chunk (several chunks, on two threads), a lone element, an empty tensor
    shapes = [(kernel.CHUNK * 2 + 77,), (5, 3), (1,), (0,), (300,)]
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=gen) for s in shapes]
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(3)]
    results = {}
    fused = [{"fused": True}] if rule in (Normalized, TwoLevels) else []  # LAMB and LARS have no switch
    for path in [{}, *fused, {"foreach": False}, {"foreach": True}]:
        params = [p.clone().requires_grad_() for p in start]
        opt = rule(params, **path)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            opt.step()
        results[str(path)] = params, opt
    assert len(ran) == 1 + len(fused)  # the default (and fused) path ran the kernel; then remembered its step
    assert results["{}"][1]._plans.get(0) is not None
    loop_params, loop_opt = results["{'foreach': False}"]
    for name, (params, opt) in results.items():
        for a, b in zip(params, loop_params, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        for p, q in zip(params, loop_params, strict=True):
            for k, v in loop_opt.state.get(q, {}).items():
                torch.testing.assert_close(opt.state[p][k], v, rtol=1e-6, atol=1e-7, msg=f"{name} {k}")


def test_per_tensor_norms_do_not_depend_on_the_number_of_threads():
    shapes = [(kernel.CHUNK * 3 + 5,), (kernel.PARALLEL_MIN_NUMEL,)]
    gen = torch.Generator().manual_seed(1)
    start = [torch.randn(s, generator=gen) for s in shapes]
    grads = [torch.randn(s, generator=gen) for s in shapes]
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            params = [p.clone().requires_grad_() for p in start]
            opt = optim.Adafactor(params)
            for _ in range(3):
                for p, g in zip(params, grads, strict=True):
                    p.grad = g.clone()
                opt.step()
            results.append(params)
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))


def test_state_the_rule_only_reads_is_never_written_by_the_program():
    def rule(p, g, state, h):
        return p - h.lr * state["m"].sqrt() * g, {}  # m is read, its register must survive

    program = foreach.Program(trace(rule, Scalars(lr=0.5), ("m",), False))
    m = [torch.full((5,), 4.0)]
    registers = [[torch.ones(5)], [torch.ones(5)], m]
    program(registers, Scalars(lr=0.5))
    assert torch.equal(m[0], torch.full((5,), 4.0))
    assert torch.equal(registers[0][0], torch.zeros(5))


def test_per_parameter_numbers_are_read_and_advanced_per_parameter():
    """NAdam's mu_product: parameters that skipped steps have their own, and get their own batch."""
    ours = [torch.ones(3, requires_grad=True) for _ in range(3)]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    opts = optim.NAdam(ours, lr=0.1), torch.optim.NAdam(theirs, lr=0.1)
    for step in range(6):
        for params, opt in zip((ours, theirs), opts, strict=True):
            for i, p in enumerate(params):
                p.grad = None if step < i else torch.full((3,), 0.5 + i)  # parameter i starts at step i
            opt.step()
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        assert opts[0].state[p]["mu_product"].dtype == torch.float32
        torch.testing.assert_close(opts[0].state[p]["mu_product"], opts[1].state[q]["mu_product"])
    assert len({float(opts[0].state[p]["mu_product"]) for p in ours}) == 3


@pytest.mark.parametrize("path", [{}, {"foreach": True}])
def test_state_not_shaped_like_its_parameter_is_checked_against_what_was_declared(path):
    small = torch.zeros(3, 4, requires_grad=True)
    source = optim.Adafactor([small])
    small.grad = torch.ones(3, 4)
    source.step()
    big = torch.zeros(5, 4, requires_grad=True)
    opt = optim.Adafactor([big], **path)
    opt.load_state_dict(source.state_dict())
    big.grad = torch.ones(5, 4)
    expected = r"state 'row_var' .* has shape \(3, 1\) but it should have shape \(5, 1\)"
    with pytest.raises(RuntimeError, match=expected):
        opt.step()
    assert torch.equal(big, torch.zeros(5, 4))

    p = torch.ones(2, requires_grad=True)
    nadam = optim.NAdam([p])
    p.grad = torch.ones(2)
    nadam.step()
    nadam.state[p]["mu_product"] = torch.ones(2)
    with pytest.raises(RuntimeError, match=r"state 'mu_product' .* not a one-element tensor"):
        nadam.step()


# (LAMB and LARS take norms only: the C kernel runs them, see the test after this one)
STACKABLE = [(optim.Adafactor, {}), (optim.Muon, {"nesterov": True})]


@pytest.mark.parametrize(("cls", "options"), STACKABLE, ids=lambda c: getattr(c, "__name__", ""))
def test_small_tensors_of_one_shape_are_stacked_and_step_as_the_per_tensor_loop(cls, options, monkeypatch):
    stacked = []
    monkeypatch.setattr(loop.Stacked, "_stacked", lambda self, b, i, run=loop.Stacked._stacked: (
        stacked.append(len(i)) or run(self, b, i)))  # fmt: skip
    # Adafactor's vectors go to the C kernel (their update is element-wise but for two norms): matrices
    lone = [(2, 3)] if cls in (optim.Muon, optim.Adafactor) else [(7,)]
    second = [(3, 5)] * 2 if cls is optim.Muon else [(5, 2)] * 3 if cls is optim.Adafactor else [(5,)] * 3
    shapes = [(4, 6)] * 3 + second + lone
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(4)]
    results = []
    for path in (None, False):
        params = [p.clone().requires_grad_() for p in start]
        opt = cls(params, foreach=path, **options)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            opt.step()
        results.append(params)
    # the default path stacked each shape at each step (a lone shape runs alone); foreach=False did not
    assert stacked == ([3, 2] if cls is optim.Muon else [3, 3]) * len(grads)
    # Muon's Newton-Schulz iteration runs in bfloat16, whose rounding differs between one product and a batch
    tolerance = {"atol": 1e-3, "rtol": 0} if cls is optim.Muon else {"atol": 0, "rtol": 1e-14}
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **tolerance)
    assert cls.rule not in loop.STACKED.unmappable


@pytest.fixture
def two_threads():
    threads_before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads_before)


@pytest.mark.parametrize(("cls", "options"), [(optim.Adafactor, {"weight_decay": 0.1}), (optim.Muon, {})],
                         ids=["Adafactor", "Muon"])  # fmt: skip
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_large_tensors_are_updated_side_by_side_one_per_thread_as_in_turn(cls, options, dtype, two_threads,
                                                                          monkeypatch):  # fmt: skip
    where = []
    monkeypatch.setattr(loop.Loop, "one", staticmethod(lambda b, i, one=loop.Loop.one: (
        where.append((threading.current_thread().name, torch.get_num_threads(), b.params[i].numel()))
        or one(b, i))))  # fmt: skip
    shapes = [(260, 260)] * 3 + [(300, 700), (1000, 70), (5, 4)]  # all but the last too large to stack
    results = []
    for path in (None, False):
        gen = torch.Generator().manual_seed(0)
        params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]
        opt = cls(params, foreach=path, **options)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
            opt.step()
        results.append(params)
    default, in_turn = where[: 6 * 3], where[6 * 3 :]
    # the default path gave each large tensor to a worker of one thread; foreach=False ran them in turn
    side_by_side = [(name, threads) for name, threads, n in default if n > loop.STACK_NUMEL]
    assert len(side_by_side) == 5 * 3
    assert {threads for _, threads in side_by_side} == {1}
    assert {name.startswith("descend-tensor") for name, _ in side_by_side} == {True}
    assert {(name, threads) for name, threads, _ in in_turn + [x for x in default if x[2] == 20]} == {
        ("MainThread", 2)
    }
    assert torch.get_num_threads() == 2
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_work_moves_to_the_workers_only_where_they_would_see_what_the_caller_sees(two_threads):
    done = []
    assert not threads.spread(done.append, [0, 1])  # autograd on, as outside a step
    with torch.no_grad():
        assert threads.spread(done.append, [0, 1, 2])
        assert sorted(done) == [0, 1, 2]
        with torch.inference_mode():
            assert not threads.spread(done.append, [3, 4])
        with torch.autocast("cpu"):
            assert not threads.spread(done.append, [3, 4])
        with FakeTensorMode():
            assert not threads.spread(done.append, [3, 4])
        with torch.profiler.profile():
            assert not threads.spread(done.append, [3, 4])
        torch.func.vmap(lambda x: done.append(threads.spread(done.append, [3, 4])) or x)(torch.zeros(2))
        assert done[3:] == [False]  # inside vmap: nothing handed over
        del done[3:]
        assert not threads.spread(done.append, [3])  # one tensor: nothing to share
        torch.set_num_threads(3)
        assert not threads.spread(done.append, [3, 4])  # fewer tensors than threads
        torch.set_num_threads(1)
        assert not threads.spread(done.append, [3, 4])
    assert sorted(done) == [0, 1, 2]


def test_a_tensor_subclass_is_updated_in_turn(two_threads, monkeypatch):
    """A DTensor's operations talk to the other processes in order: never from several threads."""
    where = []
    monkeypatch.setattr(loop.Loop, "one", staticmethod(lambda b, i, one=loop.Loop.one: (
        where.append(threading.current_thread().name) or one(b, i))))  # fmt: skip

    class Marked(torch.Tensor):
        pass

    params = [torch.nn.Parameter(torch.randn(300, 300).as_subclass(Marked)) for _ in range(3)]
    for p in params:
        p.grad = torch.randn(300, 300)
    optim.Muon(params).step()
    assert where == ["MainThread"] * 3


def test_an_interrupt_while_waiting_starts_no_other_update(two_threads, monkeypatch):
    started, real_wait = [], threads.wait

    def interrupted(tasks):
        monkeypatch.setattr(threads, "wait", real_wait)
        while len(started) < 2:
            time.sleep(0.001)
        raise KeyboardInterrupt

    def work(i):
        started.append(i)
        time.sleep(0.02)

    monkeypatch.setattr(threads, "wait", interrupted)
    with torch.no_grad(), pytest.raises(KeyboardInterrupt):
        threads.spread(work, range(20))
    count = len(started)
    time.sleep(0.1)
    assert 2 <= count < 20 and len(started) == count  # the started ones finished before; none after


def test_a_failure_on_a_worker_is_raised_after_every_started_update_finished(two_threads):
    finished = []

    def work(i):
        time.sleep(0.01 * (i == 0))
        if i in (1, 2):
            raise ValueError(f"tensor {i}")
        finished.append(i)

    with torch.no_grad(), pytest.raises(ValueError, match="tensor 1"):
        threads.spread(work, range(8))
    assert 0 in finished  # started before the failure, and waited for
    assert len(finished) < 6  # no update starts after a failure


def test_a_forked_child_updates_side_by_side_on_workers_of_its_own(two_threads):
    def child(out):
        done = []
        with torch.no_grad():
            ok = threads.spread(done.append, [0, 1, 2, 3])
        out.put((ok, sorted(done)))

    with torch.no_grad():
        assert threads.spread(lambda i: None, [0, 1])  # the parent's workers exist before the fork
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    process = context.Process(target=child, args=(out,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a process with threads
        process.start()
    process.join(60)
    assert process.exitcode == 0
    assert out.get(timeout=5) == (True, [0, 1, 2, 3])


class SparseMomentum(Normalized):
    """Momentum on the entries a sparse gradient holds, its buffer created by the rule on the first step."""

    sparse_gradients = "support"
    supports_complex = True

    @staticmethod
    def rule(p, g, state, h):
        buf = g if "buf" not in state else 0.9 * state["buf"] + g
        return p - h.lr * buf, {"buf": buf}


def embedding_grads(shape, dtype, gen, steps):
    """Sparse gradients of an embedding table: some rows looked up, some twice, one step with none."""
    rows, cols = shape
    out = []
    for step in range(steps):
        looked_up = torch.randint(rows, (0 if step == 1 else rows // 3,), generator=gen)
        values = torch.randn(len(looked_up), cols, generator=gen, dtype=dtype.to_real())
        if dtype.is_complex:
            values = torch.complex(values, values.flip(0))
        out.append(torch.sparse_coo_tensor(looked_up[None], values, shape, check_invariants=True))
    return out


SPARSE = [(optim.SparseAdam, {}), (optim.Adagrad, {"lr": 0.1}), (optim.Adagrad, {"lr": 0.1, "eps": 0.0}),
          (SparseMomentum, {})]  # fmt: skip


DTYPES = (torch.float32, torch.float64, torch.complex64)


@pytest.mark.parametrize(("cls", "options", "dtype"), [
    (cls, options, dtype) for cls, options in SPARSE for dtype in DTYPES
    if cls is not optim.SparseAdam or not dtype.is_complex  # real parameters only, as torch's
], ids=str)  # fmt: skip
def test_sparse_gradients_are_updated_in_one_kernel_call_and_step_as_the_loop(cls, options, dtype,
                                                                              monkeypatch):  # fmt: skip
    calls = []
    for method, label in (("run", "gathered"), ("run_rows", "rows")):
        spied = getattr(C_BACKEND, method)
        monkeypatch.setattr(C_BACKEND, method, lambda b, run=spied, label=label: calls.append((label, len(b)))
                            or run(b))  # fmt: skip
    shapes = [(30, 7), (12, 5), (30, 7), (6, 4)]
    results = []
    for path in ("default", "loop"):
        if path == "loop":
            monkeypatch.setenv("DESCEND_BACKEND", "loop")
        gen = torch.Generator().manual_seed(0)
        params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]
        grads = [embedding_grads(s, dtype, gen, 4) for s in shapes[:3]]
        # a gradient sparse in both dimensions (not an embedding's rows): its entries are gathered
        some = [torch.randn(6, 4, generator=gen, dtype=dtype) * (torch.rand(6, 4, generator=gen) < 0.3)
                for _ in range(4)]  # fmt: skip
        grads.append([g.to_sparse() for g in some])
        opt = cls(params, **options)
        for step in range(4):
            for p, g in zip(params, grads, strict=True):
                p.grad = g[step]
            opt.step()
        results.append((params, opt))
    # every step, the embeddings' rows in one kernel call, in place (none at step 1), and the entries of the
    # other gathered for one more; on the first step of a rule that creates state, all of them gathered
    expected = [c for r in (3, 0, 3, 3) for c in (("rows", r + 1), ("gathered", 1))]
    if cls is SparseMomentum:
        expected[1] = ("gathered", 4)
    assert calls == expected
    (ours, opt), (loop_params, loop_opt) = results
    for a, b in zip(ours, loop_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(ours, loop_params, strict=True):
        for key, value in loop_opt.state[b].items():
            torch.testing.assert_close(opt.state[a][key], value, rtol=1e-6, atol=1e-7)
    reached = {int(r) for g in grads[0] for r in g.coalesce().indices()[0]}
    never = [r for r in range(30) if r not in reached]
    if cls is SparseMomentum:  # created state is zero where the gradient never reached
        assert never and not opt.state[ours[0]]["buf"][never].any()


def test_rows_a_gradient_holds_twice_are_never_updated_in_place_by_two_threads(monkeypatch):
    in_place = []
    monkeypatch.setattr(C_BACKEND, "run_rows", lambda b, run=C_BACKEND.run_rows: in_place.append(run(b)) or
                        in_place[-1])  # fmt: skip
    results = []
    for path in ("default", "loop"):
        if path == "loop":
            monkeypatch.setenv("DESCEND_BACKEND", "loop")
        params = [torch.zeros(6, 3, requires_grad=True) for _ in range(3)]
        params[0].grad = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 3), (6, 3))
        # marked coalesced, so coalesce() keeps row 1 twice (torch does not check the mark)
        rows = torch.tensor([[1, 1, 4]])
        params[1].grad = torch.sparse_coo_tensor(rows, torch.ones(3, 3), (6, 3), is_coalesced=True)
        params[2].grad = torch.sparse_coo_tensor(torch.tensor([[5, 3]]), torch.arange(6.0).view(2, 3), (6, 3))
        optim.Adagrad(params, lr=0.5).step()
        results.append(params)
    assert in_place == [[1]]  # handed back: gathered and written as the loop writes; the others in place
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_a_rule_that_reads_a_number_out_of_a_tensor_runs_per_tensor_and_writes_nothing_twice():
    class Clipped(Normalized):
        @staticmethod
        def rule(p, g, state, h):
            return p - h.lr * g / max(1.0, float(torch.linalg.vector_norm(g))), {}

    params = [torch.full((3,), 1.0, requires_grad=True) for _ in range(3)]
    for p in params:
        p.grad = torch.full((3,), 2.0)
    Clipped(params, lr=0.5).step()
    expected = 1.0 - 0.5 * 2.0 / 12**0.5
    for p in params:
        torch.testing.assert_close(p.detach(), torch.full((3,), expected))
    assert Clipped.rule in loop.STACKED.unmappable
