"""The C backend against the per-tensor path, its kernels, and its fallbacks."""

from __future__ import annotations

import io
import stat

import pytest
import torch

from descend import optim
from descend.optim.engine import counters
from descend.optim.engine.c import C_BACKEND, build, codegen, kernel
from descend.optim.engine.graph import Graph, Traced
from optim_cases import CONFIGS, clone_params, config_id, drive, make_params

# torch's CPU sqrt is within an ulp of the correctly rounded one the kernel uses, and its vectorized lerp
# rounds once through a fused multiply-add where the kernel rounds each operation, so the paths agree to a
# few ulps, compounded over the steps, not bit for bit.
FEW_ULPS = {torch.float32: {"rtol": 2e-6, "atol": 2e-6}, torch.float64: {"rtol": 1e-13, "atol": 1e-13}}
YOGI = [("Yogi", {}), ("Yogi", {"lr": 0.05, "weight_decay": 0.1, "maximize": True})]


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path_factory.getbasetemp() / "descend-cache"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", CONFIGS + YOGI, ids=config_id)
def test_fused_equals_per_tensor_path(config, dtype):
    name, kwargs = config
    cls = getattr(optim, name)
    a = make_params(dtype, seed=5, complex_=True)  # includes a non-contiguous parameter: it falls back
    b = clone_params(a)
    opt_a = cls(a, fused=True, **kwargs)
    opt_b = cls(b, foreach=False, **kwargs)
    drive(opt_a, a, steps=9)
    drive(opt_b, b, steps=9)
    # only sqrt and lerp differ from torch's (see FEW_ULPS): without them, the same bits
    exact = name == "SGD"
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, **({"rtol": 0, "atol": 0} if exact else FEW_ULPS[dtype]))
        assert set(opt_a.state[p]) == set(opt_b.state[q])
        for key, v in opt_a.state[p].items():
            torch.testing.assert_close(
                v, opt_b.state[q][key], **{k: 10 * x for k, x in FEW_ULPS[dtype].items()}
            )


def test_fused_runs_large_groups_across_threads_and_matches():
    """Enough elements that the step is split into one range per thread, with ranges crossing tensors."""
    torch.manual_seed(0)
    sizes = [170_001, 3, 50_000, 1, 99_999]
    assert sum(sizes) >= kernel.PARALLEL_MIN_NUMEL
    a = [torch.randn(n, requires_grad=True) for n in sizes]
    b = [p.detach().clone().requires_grad_() for p in a]
    opt_a = optim.RMSprop(a, lr=0.01, centered=True, fused=True)
    opt_b = optim.RMSprop(b, lr=0.01, centered=True, foreach=False)
    for _ in range(4):
        grads = [torch.randn(n) for n in sizes]
        for params, opt in ((a, opt_a), (b, opt_b)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, rtol=2e-6, atol=2e-6)
    tensors, starts, lengths = kernel.chunks(tuple(sizes))
    assert int(lengths.max()) <= kernel.CHUNK and len(lengths) > torch.get_num_threads()
    covered = [torch.zeros(n, dtype=torch.int64) for n in sizes]
    for t, lo, n in zip(tensors.tolist(), starts.tolist(), lengths.tolist(), strict=True):
        covered[t][lo : lo + n] += 1
    assert all(bool((c == 1).all()) for c in covered)  # every element in exactly one chunk


def test_default_backend_on_cpu_is_c_for_the_dtypes_it_takes_and_foreach_otherwise():
    opt = optim.Adam([torch.randn(10, requires_grad=True)])
    group = opt.param_groups[0]
    for dtype, expected in ((torch.float32, "c"), (torch.float64, "c"), (torch.bfloat16, "c"),
                            (torch.float16, "c"), (torch.int8, "foreach")):  # fmt: skip
        assert opt._backend(group, torch.device("cpu"), dtype).name == expected
    p = torch.randn(10, requires_grad=True)
    default, loop = optim.Adam([p]), optim.Adam([q := p.detach().clone().requires_grad_()], foreach=False)
    for _ in range(3):
        p.grad, q.grad = torch.ones(10), torch.ones(10)
        default.step()
        loop.step()
    torch.testing.assert_close(p, q, **FEW_ULPS[torch.float32])


def test_resume_through_a_state_dict_on_the_fused_path_is_bit_identical():
    a = make_params(torch.float32, seed=2)
    b = clone_params(a)
    whole = optim.Adam(a, lr=0.01, amsgrad=True, fused=True)
    drive(whole, a, steps=7)
    first = optim.Adam(b, lr=0.01, amsgrad=True, fused=True)
    drive(first, b, steps=3)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    again = optim.Adam(b, lr=0.01, amsgrad=True, fused=True)
    again.load_state_dict(torch.load(buffer, weights_only=True))
    drive(again, b, steps=4, start=3)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_torch_state_loaded_then_fused_continues_like_torch():
    torch.manual_seed(1)
    p = torch.randn(1000, requires_grad=True)
    q = p.detach().clone().requires_grad_()
    theirs = torch.optim.Adam([p], lr=0.05)
    for _ in range(3):
        p.grad = torch.sin(p.detach())
        theirs.step()
    q.data.copy_(p.detach())
    ours = optim.Adam([q], lr=0.05, fused=True)
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)
    buffer.seek(0)
    ours.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(4):
        for x, opt in ((p, theirs), (q, ours)):
            x.grad = torch.sin(x.detach())
            opt.step()
    torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)


def test_kernels_compile_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))
    monkeypatch.setattr(kernel, "_KERNELS", {})
    p = torch.randn(100, requires_grad=True)
    opt = optim.Adadelta([p], fused=True)
    p.grad = torch.ones(100)
    opt.step()
    built = sorted((tmp_path / "kernels").glob("step_*"))
    assert len(built) == 2  # the library and its digest
    stamps = [f.stat().st_mtime_ns for f in built]
    monkeypatch.setattr(kernel, "_KERNELS", {})  # a new process: only the disk cache remains
    opt.step()
    assert sorted((tmp_path / "kernels").glob("step_*")) == built
    assert [f.stat().st_mtime_ns for f in built] == stamps
    # the learning rate is a kernel argument: changing it every step compiles nothing new
    for lr in (0.5, 0.25, 0.125):
        opt.param_groups[0]["lr"] = lr
        opt.step()
    assert len(kernel._KERNELS) == 1
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in [tmp_path, tmp_path / "kernels", *built])


def test_a_new_lr_changes_the_result_without_recompiling():
    p, q = torch.ones(50, requires_grad=True), torch.ones(50, requires_grad=True)
    a, b = optim.SGD([p], lr=0.1, fused=True), optim.SGD([q], lr=0.1, foreach=False)
    for lr in (0.1, 0.01, 1e-3):
        for opt, x in ((a, p), (b, q)):
            opt.param_groups[0]["lr"] = lr
            x.grad = torch.full((50,), 2.0)
            opt.step()
    assert torch.equal(p, q)


def test_fused_without_a_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(build, "working", lambda: False)
    p = torch.zeros(3, requires_grad=True)
    opt = optim.Adam([p], fused=True)
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="fused=True cannot run: it needs a C compiler"):
        opt.step()
    assert torch.equal(p, torch.zeros(3)) and float(opt.state[p]["step"]) == 0  # nothing was written
    default = optim.Adam([torch.zeros(1 << 16, requires_grad=True)])
    assert default._backend(default.param_groups[0], torch.device("cpu"), torch.float32).name == "foreach"


def test_a_failed_build_falls_back_by_default_and_raises_when_asked(tmp_path, monkeypatch):
    def fail(*args):
        raise build.CompileError("compiling a kernel with cc failed: no space left")

    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "_compile", fail)
    monkeypatch.setattr(kernel, "_KERNELS", {})
    monkeypatch.setattr(C_BACKEND, "disabled", None)
    a, b = torch.ones(1 << 16, requires_grad=True), torch.ones(1 << 16, requires_grad=True)
    default, loop = optim.Adam([a], lr=0.1), optim.Adam([b], lr=0.1, foreach=False)
    a.grad, b.grad = torch.full_like(a, 0.5), torch.full_like(b, 0.5)
    with pytest.warns(RuntimeWarning, match="no space left"):
        default.step()
    loop.step()
    assert torch.equal(a, b)
    assert C_BACKEND.unavailable(torch.device("cpu"), torch.float32) is not None
    forced = optim.Adam([a], fused=True)
    with pytest.raises(RuntimeError, match=r"fused=True cannot run: .*no space left"):
        forced.step()


def test_fused_on_a_device_without_a_kernel_is_a_clear_error():
    p = torch.zeros(3, device="meta", requires_grad=True)
    opt = optim.Adam([p], fused=True)
    p.grad = torch.zeros(3, device="meta")
    with pytest.raises(RuntimeError, match="`fused=True` requires all the params to be floating point"):
        opt.step()


def test_fused_step_bumps_the_version_counter_like_an_in_place_update():
    w = torch.randn(4, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, fused=True)
    y = (w * w).sum()  # saves w for backward
    w.grad = torch.ones(4)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_generated_source_reads_each_input_once_and_writes_each_output_once():
    graph = Graph()
    p, g = graph.node("input", ("p",), False), graph.node("input", ("g",), False)
    lr = graph.node("scalar", (0,), True)
    new = p - lr * g
    traced = Traced(graph, (), (p, g), (new, None), ("lr",), ())
    source = codegen.generate(traced, torch.float32, torch.float32)
    assert source.count("a0[j]") == 2  # one load, one store
    assert source.count("a1[j]") == 1  # the gradient is only read
    assert "(float)s[0]" in source  # the scalar meets the tensor in the tensor's precision
    half = codegen.generate(traced, torch.bfloat16, torch.float32)
    assert "bf16_load(a0[j])" in half and "bf16_store(" in half and "(float)s[0]" in half


class Subclass(torch.Tensor):
    pass


@pytest.mark.parametrize("kind", ["plain", "subclass"])
def test_step_counters_advance_like_foreach_add(kind):
    starts = [0.0, 7.0, 2.0**24, 2.0**24 + 2]  # float32 stops counting at 2^24, as torch's counter does
    for dtypes in ([torch.float32] * 4, [torch.float64] * 4, [torch.float32, torch.float64] * 2):
        ours = [torch.tensor(s, dtype=d) for s, d in zip(starts, dtypes, strict=True)]
        if kind == "subclass":  # not plain: torch's addition
            ours = [c.as_subclass(Subclass) for c in ours]
            assert not all(map(counters._plain, ours))
        theirs = [c.clone() for c in ours]
        versions = [c._version for c in ours]
        counts = counters.advance(ours)
        torch._foreach_add_(theirs, 1.0)
        assert [c.item() for c in ours] == [c.item() for c in theirs] == counts
        assert [c.dtype for c in ours] == dtypes
        assert all(c._version > v for c, v in zip(ours, versions, strict=True))
