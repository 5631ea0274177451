"""The Triton backend against the per-tensor path, run on CPU tensors by Triton's interpreter.

The interpreter executes the same generated kernels a GPU compiles (the same source, the same address and
chunk tables), element by element in numpy, so these tests check the kernels' arithmetic, their walk over
many tensors and every way of getting the step's scalars: from the host, or computed in the kernel from
step counters and hyperparameters that live where the parameters are (``capturable=True``, ``fused=True``).
"""

from __future__ import annotations

import copy
import inspect

import pytest
import torch

pytest.importorskip("triton", reason='Triton is not installed (pip install "descend[gpu]")')

from descend import optim
from descend.optim.engine import dispatch
from descend.optim.engine import triton as backend
from descend.optim.engine.graph import trace
from descend.optim.engine.triton import codegen, kernel
from optim_cases import CONFIGS, clone_params, config_id, drive, make_params

YOGI = [("Yogi", {}), ("Yogi", {"lr": 0.05, "weight_decay": 0.1, "maximize": True})]
TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-5}, torch.float64: {"rtol": 1e-10, "atol": 1e-10}}
#: How the kernel gets the step's scalars: from the host, or computing them from counters on the device.
MODES = {"host": {}, "device": {"fused": True}}


@pytest.fixture(autouse=True)
def interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv("DESCEND_BACKEND", "triton")


def assert_same_run(a, b, opt_a, opt_b, tolerance):
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, **tolerance)
        assert set(opt_a.state.get(p, {})) == set(opt_b.state.get(q, {}))
        for key, v in opt_a.state.get(p, {}).items():
            torch.testing.assert_close(v, opt_b.state[q][key], **tolerance)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", CONFIGS + YOGI, ids=config_id)
def test_triton_equals_the_per_tensor_path(config, dtype, mode):
    """Mixed shapes, a non-contiguous, a zero-size, a frozen and a complex parameter; some skip steps."""
    name, kwargs = config
    cls = getattr(optim, name)
    a = make_params(dtype, seed=5, complex_=True)
    b = clone_params(a)
    opt_a = cls(a, **MODES[mode], **kwargs)
    opt_b = cls(b, foreach=False, **kwargs)
    assert opt_a._backend(opt_a.param_groups[0], torch.device("cpu"), dtype).name == "triton"
    drive(opt_a, a, steps=5)
    drive(opt_b, b, steps=5)
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[dtype])


HALF = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adagrad", {"lr": 0.1}), ("Adadelta", {"weight_decay": 0.1}),
        ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("AdamW", {"lr": 0.01}), ("Yogi", {"lr": 0.05})]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("config", HALF, ids=config_id)
def test_half_precision_computes_in_float32_and_keeps_state_in_the_dtype(config, dtype, mode):
    """Each step equals the float32 loop on the same values, its parameter and state rounded to the dtype
    (within one unit in the last place where float32 arithmetic itself differs)."""
    name, kwargs = config
    cls = getattr(optim, name)
    gen = torch.Generator().manual_seed(3)
    half = [torch.randn(n, generator=gen).to(dtype).requires_grad_() for n in (37, 1, 1500)]
    wide = [p.detach().float().requires_grad_() for p in half]
    opt_half = cls(half, **MODES[mode], **kwargs)
    opt_wide = cls(wide, foreach=False, **kwargs)
    for step in range(3):
        for h, w in zip(half, wide, strict=True):
            g = torch.sin(3 * w.detach() + step).to(dtype)
            h.grad, w.grad = g, g.float()
        opt_half.step()
        opt_wide.step()
        for h, w in zip(half, wide, strict=True):
            state = opt_half.state[h]
            assert h.dtype == dtype and all(v.dtype == dtype for k, v in state.items() if k != "step")
            with torch.no_grad():  # the reference keeps what the dtype can hold, as the kernel does
                w.copy_(w.to(dtype))
                for key, v in opt_wide.state[w].items():
                    if key != "step":
                        v.copy_(v.to(dtype))
            # one unit in the dtype's last place where the float32 loop itself rounds otherwise (torch's eager
            # kernels contract a * b + c into one fused multiply-add on some CPUs, the kernel never does)
            ulp = {"rtol": torch.finfo(dtype).eps, "atol": 1e-6}
            torch.testing.assert_close(h.detach(), w.detach().to(dtype), **ulp)
            for key, v in opt_half.state[h].items():
                torch.testing.assert_close(v.float(), opt_wide.state[w][key].float(), **ulp)


CAPTURABLE = [("Adam", {"lr": 0.01, "amsgrad": True}), ("AdamW", {"lr": 0.02, "weight_decay": 0.5}),
              ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adadelta", {"weight_decay": 0.1}),
              ("Adam", {"lr": 0.01, "weight_decay": 0.1, "eps_root": 1e-6, "maximize": True})]  # fmt: skip


@pytest.mark.parametrize("config", CAPTURABLE, ids=config_id)
def test_capturable_counts_on_the_device_and_computes_bias_corrections_in_the_kernel(config):
    """Parameters skip steps, so one launch walks tensors at different steps, each read from its counter."""
    name, kwargs = config
    cls = getattr(optim, name)
    a = make_params(torch.float32, seed=7)
    b = clone_params(a)
    opt_a = cls(a, capturable=True, **kwargs)
    opt_b = cls(b, foreach=False, **kwargs)
    drive(opt_a, a, steps=6)
    drive(opt_b, b, steps=6)
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[torch.float32])
    counts = {float(s["step"]) for s in opt_a.state.values()}
    assert len(counts) > 1  # the counters differ, and the kernel read each one


def test_the_device_step_never_reads_a_tensor_on_the_host(monkeypatch):
    """Counters, a tensor learning rate and GradScaler's flag stay where they are: a step never waits."""
    params = [torch.randn(40, requires_grad=True), torch.randn(3, 3, requires_grad=True)]
    lr = torch.tensor(0.01)
    opt = optim.Adam(params, lr=lr, capturable=True)
    opt.grad_scale, opt.found_inf = torch.tensor(4.0), torch.tensor(0.0)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()  # creates state and builds the kernel

    def waits(*args, **kwargs):
        raise AssertionError("a device value was read on the host")

    for name in ("item", "__float__", "__bool__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, waits)
    for _ in range(2):
        opt.step()
    monkeypatch.undo()
    assert all(float(opt.state[p]["step"]) == 3 for p in params)


def test_a_tensor_learning_rate_is_read_by_the_kernel_and_changes_compile_nothing(monkeypatch):
    monkeypatch.setattr(kernel, "_KERNELS", {})
    a = make_params(torch.float32, seed=1)
    b = clone_params(a)
    lr = torch.tensor(0.1)
    opt_a = optim.Adagrad(a, lr=lr, lr_decay=0.01, fused=True)
    opt_b = optim.Adagrad(b, lr=0.1, lr_decay=0.01, foreach=False)
    for t, value in enumerate((0.1, 0.05, 0.02, 0.01)):
        lr.fill_(value)  # as a scheduler sets a tensor lr, in place
        opt_b.param_groups[0]["lr"] = value
        drive(opt_a, a, steps=1, start=t)
        drive(opt_b, b, steps=1, start=t)
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[torch.float32])
    assert len(kernel._KERNELS) == 1


@pytest.mark.parametrize("mode", MODES)
def test_gradscaler_scale_and_inf_flag_are_handled_in_the_kernel(mode):
    def run(scale: float, found: float, steps: int = 3):
        params = [torch.linspace(-1, 1, 50).requires_grad_(), torch.ones(2, 3, requires_grad=True)]
        opt = optim.Adam(params, lr=0.01, fused=True) if mode == "device" else optim.Adam(params, lr=0.01)
        for t in range(steps):
            for p in params:
                p.grad = scale * torch.cos(p.detach() + t)
            opt.grad_scale, opt.found_inf = torch.tensor(scale), torch.tensor(found)
            opt.step()
        return params, opt

    scaled, _ = run(1024.0, 0.0)
    plain, _ = run(1.0, 0.0)
    for p, q in zip(scaled, plain, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)  # a power of two divides out exactly
    skipped, opt = run(1024.0, 1.0)
    assert torch.equal(skipped[0].detach(), torch.linspace(-1, 1, 50))
    assert torch.equal(skipped[1].detach(), torch.ones(2, 3))
    assert all(float(opt.state[p]["step"]) == 0 for p in skipped)


def test_one_launch_walks_many_tensors_across_chunk_boundaries():
    sizes = [2 * kernel.BLOCK + 3, 1, kernel.BLOCK, kernel.BLOCK + 1, 0, 17]
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(n, generator=gen, requires_grad=True) for n in sizes]
    b = clone_params(a)
    opt_a, opt_b = optim.Yogi(a, lr=0.05, fused=True), optim.Yogi(b, lr=0.05, foreach=False)
    for _ in range(2):
        for x, y in zip(a, b, strict=True):
            x.grad = torch.randn(x.shape, generator=gen)
            y.grad = x.grad.clone()
        opt_a.step()
        opt_b.step()
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[torch.float32])
    table = kernel.chunks(tuple(sizes))
    covered = [torch.zeros(n, dtype=torch.int64) for n in sizes]
    for t, lo, n in zip(table[0::3], table[1::3], table[2::3], strict=True):
        assert 0 < n <= kernel.BLOCK
        covered[t][lo : lo + n] += 1
    assert all(bool((c == 1).all()) for c in covered)  # every element in exactly one chunk


def test_parameters_laid_out_differently_are_walked_through_dense_copies():
    base = torch.randn(6, 8)
    a = [base[:, :5].clone().requires_grad_(), torch.randn(4, 3).t().requires_grad_()]
    sliced = torch.zeros(6, 8)
    sliced[:, :5] = a[0].detach()
    a[0] = sliced[:, :5].requires_grad_()  # a view with gaps: not dense
    b = [p.detach().clone().requires_grad_() for p in a]
    opt_a = optim.SGD(a, lr=0.1, momentum=0.9, nesterov=True)
    opt_b = optim.SGD(b, lr=0.1, momentum=0.9, nesterov=True, foreach=False)
    for t in range(3):
        for x, y in zip(a, b, strict=True):
            g = torch.sin(y.detach() + t)
            x.grad, y.grad = g.t().contiguous().t() if t == 1 else g, g  # a gradient laid out otherwise
        opt_a.step()
        opt_b.step()
    assert_same_run(a, b, opt_a, opt_b, {"rtol": 0, "atol": 0})
    assert torch.equal(sliced[:, 5:], torch.zeros(6, 3))  # nothing written outside the view


def test_half_precision_conversions_round_as_torch_does():
    """The kernels' own float32 <-> bfloat16/float16 conversions, on ties, subnormals, overflow, inf, NaN."""
    source = (
        codegen.PRELUDE
        + """

@triton.jit
def step(x, bf16, f16, back, BLOCK: tl.constexpr):
    r = tl.arange(0, BLOCK)
    v = tl.load(x + r)
    tl.store(bf16 + r, _bf16_store(v))
    h = _f16_store(v)
    tl.store(f16 + r, h)
    tl.store(back + r, _f16_load(h) + _bf16_load(_bf16_store(v)))
"""
    )
    fn = kernel.jit(source)
    special = [
        0.0,
        -0.0,
        1.0,
        1 + 2**-8,
        1 + 3 * 2**-8,
        1 + 2**-11,
        1 + 3 * 2**-11,
        65504.0,
        65520.0,
        1e6,
        2**-24,
        2**-25,
        3 * 2**-26,
        2**-14 - 2**-25,
        1e-40,
        float("inf"),
        float("-inf"),
        float("nan"),
    ]
    x = torch.cat([torch.tensor(special), torch.randn(1024 - len(special)) * 100.0])
    bf16, f16 = torch.empty(1024, dtype=torch.int16), torch.empty(1024, dtype=torch.int16)
    back = torch.empty(1024)
    fn[(1,)](x, bf16, f16, back, BLOCK=1024)
    for ours, dtype in ((bf16, torch.bfloat16), (f16, torch.float16)):
        torch.testing.assert_close(ours.view(dtype), x.to(dtype), rtol=0, atol=0, equal_nan=True)
    expected = x.to(torch.float16).float() + x.to(torch.bfloat16).float()
    torch.testing.assert_close(back, expected, rtol=0, atol=0, equal_nan=True)


def test_the_step_bumps_the_version_counter_like_an_in_place_update():
    w = torch.randn(4, requires_grad=True)
    opt = optim.RMSprop([w], lr=0.1)
    y = (w * w).sum()
    w.grad = torch.ones(4)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_kernels_are_made_from_source_in_memory_and_lr_is_an_argument(monkeypatch):
    """Triton's @jit reads the generated source through inspect: it is found without any file."""
    monkeypatch.setattr(kernel, "_KERNELS", {})
    p = torch.ones(5, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    hyper = opt._hyperparameters(opt.param_groups[0])
    traced = trace(opt.rule, opt.scalars(hyper, 1), ("momentum_buffer",), False)
    k = kernel.Kernel(traced, torch.bfloat16)
    fn = k.fn.fn
    assert fn.__code__.co_filename.startswith("<descend-triton-")
    assert inspect.getsource(fn) in k.source
    assert k.source.count("tl.store(") == 2 and k.source.count("a1 + offs") == 1  # the gradient: read once
    assert "s0: tl.float64" in k.source and "_bf16_store(" in k.source
    for lr in (0.1, 0.01):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.ones(5)
        opt.step()
    assert len(kernel._KERNELS) == 2  # the first step (which creates the buffer), then every other


def test_every_operation_of_the_rules_has_an_entry():
    from descend.optim.engine.graph import NUMBERS_ONLY, Node

    traced_ops = {name for name, member in vars(Node).items() if callable(member)}
    ops = {"add", "sub", "mul", "div", "neg", "sqrt", "sign", "maximum", "lerp", "pow"}
    assert {"__add__", "sqrt", "lerp", "maximum", "__pow__"} <= traced_ops
    assert ops - NUMBERS_ONLY <= set(codegen.TENSOR_OPS) and ops <= set(codegen.NUMBER_OPS)


# ---- choosing the backend ----------------------------------------------------------------------------


def test_on_cuda_the_default_and_fused_paths_choose_triton(monkeypatch):
    monkeypatch.delenv("DESCEND_BACKEND")
    cuda = torch.device("cuda")
    opt = optim.Adam([torch.zeros(2, requires_grad=True)])
    group = opt.param_groups[0]
    assert dispatch.DEFAULTS["cuda"][0] == "triton" and dispatch.FUSED["cuda"] == "triton"
    assert opt._backend(group, cuda, torch.float32).name == "triton"
    assert opt._backend(group, cuda, torch.int8).name == "foreach"  # a dtype the kernel does not take
    assert opt._backend({**group, "fused": True}, cuda, torch.bfloat16).name == "triton"


def test_without_triton_forcing_it_is_an_error_naming_triton_and_the_default_falls_back(monkeypatch):
    monkeypatch.setattr(backend, "installed", lambda: "it needs Triton, which does not import here")
    p = torch.zeros(3, requires_grad=True)
    opt = optim.Adam([p])
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="DESCEND_BACKEND=triton cannot run: it needs Triton"):
        opt.step()
    assert torch.equal(p, torch.zeros(3))
    monkeypatch.delenv("DESCEND_BACKEND")
    group, cuda = opt.param_groups[0], torch.device("cuda")
    assert opt._backend(group, cuda, torch.float32).name == "foreach"
    with pytest.raises(RuntimeError, match="fused=True cannot run: it needs Triton"):
        opt._backend({**group, "fused": True}, cuda, torch.float32)


def test_forcing_triton_on_cpu_tensors_outside_the_interpreter_is_an_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    p = torch.zeros(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match=r"only under Triton.s interpreter \(TRITON_INTERPRET=1\)"):
        opt.step()


@pytest.mark.parametrize("kwargs", [{}, {"foreach": True}, {"differentiable": True}])
def test_capturable_where_the_kernel_cannot_count_on_the_device_is_an_error_as_in_torch(monkeypatch, kwargs):
    monkeypatch.delenv("DESCEND_BACKEND")  # CPU tensors: the C kernel, or the path asked for
    p = torch.zeros(3, requires_grad=True)
    opt = optim.Adam([p], capturable=True, **kwargs)  # accepted, as torch accepts it
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match=r"If capturable=True, params and state_steps must be on supp"):
        opt.step()
    assert torch.equal(p.detach(), torch.zeros(3)) and float(opt.state[p]["step"]) == 0


class Subclass(torch.Tensor):
    pass


def test_tensors_the_kernel_cannot_walk_take_the_loop_with_scalars_from_their_counters():
    """A tensor subclass (a DTensor shard, say) has no single address: the loop updates it, same step."""
    a = [torch.randn(5, requires_grad=True), torch.randn(3).as_subclass(Subclass).requires_grad_()]
    b = [p.detach().clone().requires_grad_() for p in a]
    opt_a, opt_b = optim.Adam(a, lr=0.1, capturable=True), optim.Adam(b, lr=0.1, foreach=False)
    drive(opt_a, a, steps=5)
    drive(opt_b, b, steps=5)
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[torch.float32])


def test_a_compiled_training_step_runs_the_kernel_with_device_counters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    twin = copy.deepcopy(model)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    opt, reference = optim.AdamW(model.parameters(), lr=0.01, capturable=True), optim.AdamW(
        twin.parameters(), lr=0.01, foreach=False)  # fmt: skip

    @torch.compile
    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
        reference.zero_grad()
        torch.nn.functional.mse_loss(twin(x), y).backward()
        reference.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert all(float(s["step"]) == 3 for s in opt.state.values())


def test_a_kernel_that_does_not_compile_falls_back_by_default_and_raises_when_forced(monkeypatch):
    def fail(source):
        raise backend.CompileError("Triton could not compile a kernel: out of registers")

    monkeypatch.setattr(kernel, "jit", fail)
    monkeypatch.setattr(kernel, "_KERNELS", {})
    monkeypatch.setattr(backend.TRITON, "disabled", None)
    a, b = [torch.ones(10, requires_grad=True)], [torch.ones(10, requires_grad=True)]
    forced = optim.RMSprop(a, lr=0.1)
    a[0].grad = torch.full((10,), 0.5)
    with pytest.raises(backend.CompileError, match="out of registers"):
        forced.step()
    assert torch.equal(a[0].detach(), torch.ones(10))
    monkeypatch.delenv("DESCEND_BACKEND")
    monkeypatch.setitem(dispatch.DEFAULTS, "cpu", ("triton", "foreach"))  # as on CUDA
    default, loop = optim.RMSprop(a, lr=0.1), optim.RMSprop(b, lr=0.1, foreach=False)
    b[0].grad = a[0].grad.clone()
    with pytest.warns(RuntimeWarning, match="Triton optimizer kernels are unavailable: .*out of registers"):
        default.step()
    loop.step()
    assert torch.equal(a[0], b[0])
    assert default._backend(default.param_groups[0], torch.device("cpu"), torch.float32).name == "foreach"


ELEMENTWISE = [
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1}),
    ("Rprop", {"lr": 0.01}),
    ("ASGD", {"lr": 0.01, "t0": 2.0}),
    ("Lion", {"lr": 1e-3, "weight_decay": 0.1}),
    ("Adan", {"lr": 0.01}),
    ("ScheduleFreeSGD", {"lr": 0.1}),
    ("ScheduleFreeAdamW", {"lr": 0.01}),
]


@pytest.mark.parametrize("config", ELEMENTWISE, ids=config_id)
def test_triton_runs_the_newer_element_wise_rules_as_the_loop_does(config):
    name, kwargs = config
    cls = getattr(optim, name)
    a = make_params(torch.float32, seed=3)
    b = clone_params(a)
    opt_a, opt_b = cls(a, **kwargs), cls(b, foreach=False, **kwargs)
    assert opt_a._backend(opt_a.param_groups[0], torch.device("cpu"), torch.float32).name == "triton"
    drive(opt_a, a, steps=4)
    drive(opt_b, b, steps=4)
    assert_same_run(a, b, opt_a, opt_b, TOLERANCE[torch.float32])
