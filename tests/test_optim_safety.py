"""What the engine guarantees before speed: nothing unchecked reaches a kernel, every backend on request."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.optim import optimizer as torch_optimizer

from descend import optim
from descend.optim.engine import dispatch, foreach
from descend.optim.engine.c import C_BACKEND, build
from optim_cases import CONFIGS, clone_params, config_id, drive, make_params

PATHS = {"default": {}, "fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}
ALL = [*{name for name, _ in CONFIGS}, "Yogi"]


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path_factory.getbasetemp() / "descend-cache"))
    monkeypatch.delenv("DESCEND_BACKEND", raising=False)


def roundtrip(state_dict: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def snapshot(opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params] + [
        v.clone() for p in params for v in opt.state.get(p, {}).values() if isinstance(v, torch.Tensor)
    ]


# ---- 1. state that does not fit its parameter never reaches a kernel ------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_state_from_a_smaller_model_is_refused_before_anything_is_written(name, path):
    cls = getattr(optim, name)
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    small = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    source = cls(small, **kwargs)
    for p in small:
        p.grad = torch.ones_like(p)
    source.step()
    big = [torch.zeros(2_000_000, requires_grad=True), torch.zeros(3, requires_grad=True)]
    opt = cls(big, **kwargs, **PATHS[path])
    opt.load_state_dict(roundtrip(source.state_dict()))
    for p in big:
        p.grad = torch.ones_like(p)
    before = snapshot(opt, big)
    with pytest.raises(RuntimeError, match=r"has shape \(2,\) but the parameter has shape \(2000000,\)"):
        opt.step()
    after = snapshot(opt, big)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # the small one too


@pytest.mark.parametrize("path", PATHS)
def test_state_of_the_transposed_shape_is_refused(path):
    p = torch.zeros(3, 2, requires_grad=True)
    opt = optim.Adam([p], **PATHS[path])
    p.grad = torch.ones(3, 2)
    opt.step()
    opt.state[p]["exp_avg"] = torch.zeros(2, 3)
    with pytest.raises(
        RuntimeError, match=r"state 'exp_avg' of parameter 0 of parameter group 0 has shape \(2, 3\)"
    ):
        opt.step()


def test_a_gradient_of_another_shape_is_refused():
    p = torch.zeros(6, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = torch.ones(6)
    p.data = torch.zeros(2, 3)  # torch lets .data change under an existing gradient
    with pytest.raises(RuntimeError, match=r"gradient of parameter 0 .* has shape \(6,\) but the parameter"):
        opt.step()


# ---- 2. a remembered plan sees every change -------------------------------------------------------------


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_parameter_transposed_through_data_after_the_plan_was_made(name):
    a = torch.randn(3, 2, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    ours, theirs = getattr(optim, name)([a], lr=0.1), getattr(torch.optim, name)([b], lr=0.1)
    for step in range(4):
        if step == 3:  # the same address, now shape (2, 3) and strides (1, 2): element (i, j) moved
            assert ours._plans[0] is not None
            for p in (a, b):
                p.data = p.data.t()
        for p in (a, b):
            p.grad = torch.sin(p.detach() * (step + 1))
        if name == "Adam" and step == 3:  # its state keeps the old shape: torch fails too
            before = a.detach().clone()
            with pytest.raises(
                RuntimeError, match=r"has shape \(3, 2\) but the parameter has shape \(2, 3\)"
            ):
                ours.step()
            assert torch.equal(a, before)
            return
        ours.step()
        theirs.step()
    assert a.shape == (2, 3)
    torch.testing.assert_close(a, b)  # torch's add_ with alpha fuses the multiply-add: not bit for bit


# ---- 5. without a compiler, the default is the multi-tensor program, quietly ------------------------------


def test_without_a_compiler_the_default_is_the_multi_tensor_program_without_a_warning(monkeypatch, recwarn):
    monkeypatch.setattr(build, "working", lambda: False)
    a = make_params(torch.float32, seed=4, complex_=True)
    b = clone_params(a)
    default = optim.Adam(a, lr=0.01, amsgrad=True)
    loop = optim.Adam(b, lr=0.01, amsgrad=True, foreach=False)
    assert default._backend(default.param_groups[0], torch.device("cpu"), torch.float32).name == "foreach"
    drive(default, a, steps=6)
    drive(loop, b, steps=6)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not [w for w in recwarn if "descend" in str(w.message)]


def test_a_compiler_that_cannot_build_openmp_code_is_no_compiler(tmp_path, monkeypatch):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'clang: error: unsupported option -fopenmp' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path / "cache"))
    build.compiler.cache_clear()
    build.working.cache_clear()
    try:
        assert build.compiler() == str(fake) and not build.working()
        assert C_BACKEND.unavailable(torch.device("cpu"), torch.float32).startswith("it needs a C compiler")
    finally:
        build.compiler.cache_clear()
        build.working.cache_clear()


def test_the_cpu_program_runs_in_blocks_that_cover_every_element_once():
    sizes = [foreach.BLOCK * 3 + 17, 5, foreach.BLOCK, 0, 100]
    columns = [[torch.zeros(n) for n in sizes], [torch.zeros(n) for n in sizes]]
    seen = [torch.zeros(n) for n in sizes]
    for block in foreach.blocks(columns):
        assert sum(t.numel() for t in block[0]) <= foreach.BLOCK or len(block[0]) == 1
        torch._foreach_add_(block[0], 1.0)
    for t, s in zip(columns[0], seen, strict=True):
        assert torch.equal(t, s + 1)
    assert all(not t.is_contiguous() or t.data_ptr() % 64 == 0 for t in columns[0])


@pytest.mark.parametrize(
    "name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("RMSprop", {"centered": True})]
)
def test_the_blocked_program_equals_the_loop_on_large_tensors(name, kwargs):
    torch.set_num_threads(1)  # the loop then sees whole tensors on one thread, as the blocks do
    try:
        a = [torch.randn(foreach.BLOCK * 2 + 7, requires_grad=True), torch.randn(300, requires_grad=True)]
        b = clone_params(a)
        fa, fb = (
            getattr(optim, name)(a, foreach=True, **kwargs),
            getattr(optim, name)(b, foreach=False, **kwargs),
        )
        drive(fa, a, steps=4)
        drive(fb, b, steps=4)
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_the_blocked_program_needs_no_temporary_as_large_as_the_parameters():
    script = textwrap.dedent("""
        import resource, torch
        from descend import optim
        params = [torch.zeros(4_000_000, requires_grad=True) for _ in range(2)]
        opt = optim.Adam(params, foreach=True)
        for p in params:
            p.grad = torch.full_like(p, 0.5)
        opt.step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(3):
            opt.step()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    grown_kib = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                   check=True).stdout)  # fmt: skip
    assert grown_kib < 8_000  # a temporary over all parameters would be 32 MB


# ---- 6. every dtype torch's fused path takes ------------------------------------------------------------


def half_reference_step(cls, kwargs, half_params, half_opt, steps_done):
    """One step computed in float32 from the half-precision values, rounded back: what the kernel does."""
    wide = [p.detach().float().requires_grad_() for p in half_params]
    opt = cls(wide, foreach=False, **kwargs)
    for p, q in zip(half_params, wide, strict=True):
        q.grad = p.grad.float()
        if p in half_opt.state:
            opt.state[q] = {k: v.float() if k != "step" else v.clone() for k, v in half_opt.state[p].items()}
    opt.step()
    return [q.detach().to(half_params[0].dtype) for q in wide], opt, wide


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("config", [*CONFIGS, ("Yogi", {})], ids=config_id)
def test_fused_half_precision_computes_in_float32_and_stores_in_the_parameter_dtype(config, dtype):
    name, kwargs = config
    cls = getattr(optim, name)
    gen = torch.Generator().manual_seed(3)
    params = [
        torch.randn(37, generator=gen).to(dtype).requires_grad_(),
        torch.randn(4, 5, generator=gen).to(dtype).requires_grad_(),
    ]
    opt = cls(params, fused=True, **kwargs)
    for step in range(5):
        for p in params:
            p.grad = torch.sin(p.detach().float() * (step + 1)).to(dtype)
        expected, ref_opt, wide = half_reference_step(cls, kwargs, params, opt, step)
        opt.step()
        for p, e, q in zip(params, expected, wide, strict=True):
            assert p.dtype == dtype
            torch.testing.assert_close(p.detach(), e, rtol=2**-7, atol=1e-6)  # one ulp where float32 differs
            for key, value in opt.state[p].items():
                if key != "step":
                    assert value.dtype == dtype
                    torch.testing.assert_close(
                        value.float(), ref_opt.state[q][key].to(dtype).float(), rtol=2**-7, atol=1e-6
                    )
    assert float(opt.state[params[0]].get("step", 5)) == 5


# not SGD: torch 2.13's fused CPU SGD on half-precision tensors of 16 elements or more strays from its own
# for-loop and from float32 (its vectorised loop); descend's SGD is checked against float32 above
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize(
    "name,kwargs", [("Adam", {"lr": 0.01}), ("AdamW", {"amsgrad": True}), ("Adagrad", {"lr": 0.1})]
)
def test_fused_half_precision_matches_torch_fused(name, kwargs, dtype):
    gen = torch.Generator().manual_seed(1)
    a = [torch.randn(64, generator=gen).to(dtype).requires_grad_()]
    b = [a[0].detach().clone().requires_grad_()]
    ours, theirs = (
        getattr(optim, name)(a, fused=True, **kwargs),
        getattr(torch.optim, name)(b, fused=True, **kwargs),
    )
    for step in range(6):
        for p, opt in ((a[0], ours), (b[0], theirs)):
            p.grad = torch.cos(p.detach().float() * (step + 1)).to(dtype)
            opt.step()
    torch.testing.assert_close(a[0], b[0], rtol=2**-6, atol=1e-3)


def test_half_precision_conversions_round_as_torch_does():
    """Every float16 and bfloat16 value, and floats around each rounding boundary, through the kernel."""
    bits = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
    for dtype in (torch.float16, torch.bfloat16):
        values = bits.view(dtype)
        p = values.clone().requires_grad_()
        opt = optim.SGD([p], lr=1.0, fused=True)
        p.grad = torch.zeros_like(p)
        opt.step()  # p - 1.0 * 0: a load and a store
        assert torch.equal(p.detach().view(torch.int16)[~values.isnan()], bits[~values.isnan()])
        assert bool(p.detach().isnan().eq(values.isnan()).all())
        # stores: x - lr * g = x + delta: float32 values near each half value, rounded
        wide = values.float()
        finite = wide.isfinite()
        for delta in (0.0, 1e-8, -1e-8, 1e-3, -1e-3, 1e4):
            q = values.clone().requires_grad_()
            opt = optim.SGD([q], lr=abs(delta), fused=True)
            q.grad = torch.full_like(q, -1.0 if delta >= 0 else 1.0)
            opt.step()
            expected = (wide + delta).to(dtype)  # float32 result, rounded by torch's conversion
            got = q.detach()
            same = (got.view(torch.int16) == expected.view(torch.int16)) | (got.isnan() & expected.isnan())
            assert bool(same[finite].all()), (dtype, delta)


# ---- 7. sparse Adagrad with eps=0, tensor betas ---------------------------------------------------------


def test_sparse_adagrad_without_eps_leaves_untouched_rows_alone():
    weights = torch.randn(10, 3)
    ours, theirs = torch.nn.Embedding(10, 3, sparse=True), torch.nn.Embedding(10, 3, sparse=True)
    ours.weight.data.copy_(weights)
    theirs.weight.data.copy_(weights)
    opt_ours = optim.Adagrad(ours.parameters(), lr=0.5, eps=0.0)
    opt_theirs = torch.optim.Adagrad(theirs.parameters(), lr=0.5, eps=0.0)
    for idx in ([1, 3, 3], [3, 7], [0]):
        for emb, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            emb(torch.tensor(idx)).pow(2).sum().backward()
            opt.step()
    assert not ours.weight.isnan().any()
    untouched = [i for i in range(10) if i not in (0, 1, 3, 7)]
    assert torch.equal(ours.weight[untouched], weights[untouched])
    # the C kernel on the rows looked up: torch's arithmetic to rounding
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-6, atol=1e-7)
    assert torch.equal(opt_ours.state[ours.weight]["sum"], opt_theirs.state[theirs.weight]["sum"])


@pytest.mark.parametrize("cls", [optim.SparseAdam, optim.Adagrad], ids=lambda c: c.__name__)
@pytest.mark.parametrize("loop", [False, True], ids=["default", "loop"])
def test_a_sparse_gradient_pointing_outside_its_parameter_is_refused_before_writing(cls, loop, monkeypatch):
    if loop:
        monkeypatch.setenv("DESCEND_BACKEND", "loop")
    good, bad, table = (torch.zeros(30, 4, requires_grad=True) for _ in range(3))
    opt = cls([good, bad, table])
    good.grad = torch.sparse_coo_tensor(torch.tensor([[1, 2]]), torch.ones(2, 4), (30, 4))
    # torch checks a sparse tensor's indices only when asked to (check_invariants)
    bad.grad = torch.sparse_coo_tensor(torch.tensor([[3, 40]]), torch.ones(2, 4), (30, 4),
                                       check_invariants=False)  # fmt: skip
    table.grad = torch.sparse_coo_tensor(torch.tensor([[0, 1], [2, -1]]), torch.ones(2), (30, 4),
                                         check_invariants=False)  # fmt: skip
    expected = r"parameter 1 of parameter group 0 holds index 40 in dimension 0, of size 30; nothing was"
    with pytest.raises(IndexError, match=expected):
        opt.step()
    bad.grad = None
    with pytest.raises(IndexError, match=r"parameter 2 .* holds index -1 in dimension 1, of size 4"):
        opt.step()
    for p in (good, bad, table):
        assert not p.any()
        assert all(not v.any() for v in opt.state[p].values())  # no step counted, no moment moved


@pytest.mark.parametrize("path", ["default", "fused", "loop"])
def test_tensor_betas_step_as_their_values(path):
    a, b = torch.ones(5, requires_grad=True), torch.ones(5, requires_grad=True)
    oa = optim.Adam([a], betas=(torch.tensor(0.8), torch.tensor(0.95)), **PATHS[path])
    ob = optim.Adam([b], betas=(0.8, 0.95), **PATHS[path])
    for step in range(3):
        for p, opt in ((a, oa), (b, ob)):
            p.grad = torch.full((5,), 0.3 * (step + 1))
            opt.step()
    assert torch.equal(a, b)


def test_tensor_betas_are_refused_where_torch_refuses_them():
    p = [torch.ones(1, requires_grad=True)]
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        optim.Adam(p, betas=(torch.tensor(0.9), 0.999))
    with pytest.raises(
        ValueError, match=r"betas\[0\] as a Tensor is not supported for capturable=False and fore"
    ):
        optim.Adam(p, betas=(torch.tensor(0.9), torch.tensor(0.999)), foreach=True)
    with pytest.raises(
        ValueError, match="lr as a Tensor is not supported for capturable=False and foreach=True"
    ):
        optim.AdamW(p, lr=torch.tensor(0.01), foreach=True)


# ---- 8. torch's keywords, legacy state dicts, torch.compile ---------------------------------------------


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adadelta"])
def test_capturable_and_differentiable_at_their_defaults_are_accepted(name):
    p = torch.ones(3, requires_grad=True)
    opt = getattr(optim, name)([p], capturable=False, differentiable=False)
    assert opt.defaults["capturable"] is False and opt.defaults["differentiable"] is False


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Yogi"])
def test_differentiable_false_is_accepted_everywhere(name):
    opt = getattr(optim, name)([torch.ones(3, requires_grad=True)], differentiable=False)
    assert opt.defaults["differentiable"] is False


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),  # with momentum, torch detaches the first buffer
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}), ("AdamW", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.1, "momentum": 0.5}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adadelta", {"weight_decay": 0.1}), ("NAdam", {"lr": 0.1, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.1, "weight_decay": 0.1}), ("ASGD", {"lr": 0.1, "weight_decay": 0.1, "t0": 1}),
])  # fmt: skip
def test_differentiable_step_gives_torch_gradients(name, kwargs):
    """Gradients flow through the step to the parameter, the gradient and the state, as in torch's."""

    def unrolled(cls):
        torch.manual_seed(0)
        p0 = torch.randn(4, dtype=torch.float64, requires_grad=True)
        g0 = torch.randn(4, dtype=torch.float64, requires_grad=True)
        p = p0.clone()
        opt = cls([p], differentiable=True, **kwargs)
        grads = [g0, g0 * 0.5 + 0.1, torch.cos(g0)]
        for g in grads:
            p.grad = g
            opt.step()
        state = [v for k, v in sorted(opt.state[p].items()) if k != "step" and v.requires_grad]
        out = p.sum() + sum(v.square().sum() for v in state)
        return torch.autograd.grad(out, (p0, g0))

    ours, theirs = unrolled(getattr(optim, name)), unrolled(getattr(torch.optim, name))
    # torch's differentiable Adam computes its bias corrections from the float32 step counter
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


DIFFERENTIABLE = [
    ("Yogi", {"weight_decay": 0.1}), ("Adamax", {"lr": 0.1, "weight_decay": 0.1}), ("Rprop", {"lr": 0.1}),
    ("Lion", {"lr": 0.1, "weight_decay": 0.1}), ("Adan", {"lr": 0.1, "weight_decay": 0.1}),
    ("LAMB", {"lr": 0.1, "weight_decay": 0.1}), ("LARS", {"lr": 0.5}),
]  # fmt: skip


@pytest.mark.parametrize("config", [*CONFIGS, *DIFFERENTIABLE], ids=config_id)
def test_differentiable_step_passes_gradcheck(config):
    """The step's derivatives against finite differences (torch's own differentiable AMSGrad cannot)."""
    name, kwargs = config
    cls = getattr(optim, name)

    def two_steps(p0, g0):
        p = p0.clone()
        opt = cls([p], differentiable=True, **kwargs)
        for g in (g0, torch.cos(g0) + 0.5):
            p.grad = g
            opt.step()
        state = [v for k, v in sorted(opt.state[p].items()) if k != "step"]
        return (p, *state)

    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)
    g0 = torch.randn(3, dtype=torch.float64, generator=gen).add(0.5).requires_grad_()
    assert torch.autograd.gradcheck(two_steps, (p0, g0))


def test_fused_and_differentiable_together_are_refused_as_in_torch():
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        optim.Adam([torch.ones(2, requires_grad=True)], fused=True, differentiable=True)


@pytest.mark.parametrize("name", ["Adam", "Adagrad", "RMSprop"])
def test_a_legacy_state_dict_with_a_number_step_loads_and_steps_as_torch(name):
    ours_p, theirs_p = torch.ones(4, requires_grad=True), torch.ones(4, requires_grad=True)
    source = getattr(torch.optim, name)([torch.ones(4, requires_grad=True)])
    source.param_groups[0]["params"][0].grad = torch.full((4,), 0.5)
    source.step()
    legacy = copy.deepcopy(source.state_dict())
    legacy["state"][0]["step"] = 1  # as torch < 1.12 saved it
    ours, theirs = getattr(optim, name)([ours_p]), getattr(torch.optim, name)([theirs_p])
    ours.load_state_dict(copy.deepcopy(legacy))
    theirs.load_state_dict(copy.deepcopy(legacy))
    for p, opt in ((ours_p, ours), (theirs_p, theirs)):
        p.grad = torch.full((4,), 0.25)
        opt.step()
    assert isinstance(ours.state[ours_p]["step"], torch.Tensor) and float(ours.state[ours_p]["step"]) == 2
    torch.testing.assert_close(ours_p, theirs_p, rtol=1e-6, atol=1e-7)


def test_torch_compile_of_a_training_step_runs_and_equals_eager():
    def make():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        return model, optim.Adam(model.parameters(), lr=0.05)

    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def train_step(model, opt):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    eager_model, eager_opt = make()
    compiled_model, compiled_opt = make()
    compiled = torch.compile(train_step, backend="eager")
    for _ in range(3):
        a = train_step(eager_model, eager_opt)
        b = compiled(compiled_model, compiled_opt)
        torch.testing.assert_close(a, b)
    for p, q in zip(eager_model.parameters(), compiled_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


# ---- DESCEND_BACKEND --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["loop", "foreach", "c"])
def test_descend_backend_forces_the_backend_of_the_default_and_fused_paths(backend, monkeypatch):
    monkeypatch.setenv("DESCEND_BACKEND", backend)
    a = make_params(torch.float64, seed=8)
    b = clone_params(a)
    opt = optim.RMSprop(a, lr=0.01, momentum=0.5)
    assert opt._backend(opt.param_groups[0], torch.device("cpu"), torch.float64).name == backend
    fused = optim.RMSprop([torch.ones(1, requires_grad=True)], fused=True)
    assert fused._backend(fused.param_groups[0], torch.device("cpu"), torch.float64).name == backend
    explicit = optim.RMSprop([torch.ones(1, requires_grad=True)], foreach=False)  # an explicit choice wins
    assert explicit._backend(explicit.param_groups[0], torch.device("cpu"), torch.float64).name == "loop"
    drive(opt, a, steps=5)
    drive(optim.RMSprop(b, lr=0.01, momentum=0.5, foreach=False), b, steps=5)
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-13)


def test_descend_backend_that_cannot_run_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setenv("DESCEND_BACKEND", "c")
    monkeypatch.setattr(build, "working", lambda: False)
    p = torch.ones(3, requires_grad=True)
    opt = optim.Adam([p])
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="DESCEND_BACKEND=c cannot run: it needs a C compiler"):
        opt.step()
    monkeypatch.setenv("DESCEND_BACKEND", "cuda-graphs")
    with pytest.raises(
        ValueError, match="Invalid DESCEND_BACKEND: 'cuda-graphs'; expected one of loop, foreach, c"
    ):
        opt.step()
    assert torch.equal(p, torch.ones(3))


@pytest.mark.parametrize("backend", ["loop", "foreach"])
def test_fused_where_no_fused_kernel_runs_is_torchs_error_whatever_is_forced(backend, monkeypatch):
    monkeypatch.setenv("DESCEND_BACKEND", backend)
    p = torch.ones(3, device="meta", requires_grad=True)
    p.grad = torch.ones(3, device="meta")
    with pytest.raises(RuntimeError, match="`fused=True` requires all the params to be floating point"):
        optim.SGD([p], lr=0.1, fused=True).step()


def test_adding_a_backend_is_one_entry_in_the_table(monkeypatch):
    calls = []

    class Recorder:
        name = "recorder"

        def unavailable(self, device, dtype):
            return None

        def run(self, batch):
            calls.append(len(batch))
            return batch  # hands everything back: the loop runs it

    monkeypatch.setitem(dispatch.BACKENDS, "recorder", Recorder())
    monkeypatch.setenv("DESCEND_BACKEND", "recorder")
    a = make_params(torch.float32, seed=2)
    b = clone_params(a)
    drive(optim.Adam(a, lr=0.1), a, steps=3)
    drive(optim.Adam(b, lr=0.1, foreach=False), b, steps=3)
    assert calls and all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


# ---- GradScaler: the fused step takes the loss scale and the inf flag, as torch's fused optimizers do ----


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "RMSprop"])
def test_a_step_with_found_inf_changes_nothing_and_counts_no_step(name):
    params = [torch.ones(3, requires_grad=True) for _ in range(2)]
    opt = getattr(optim, name)(params, fused=True)
    assert opt._step_supports_amp_scaling
    for p in params:
        p.grad = torch.ones(3)
    opt.grad_scale, opt.found_inf = torch.ones(()), torch.ones(())
    opt.step()
    assert all(torch.equal(p, torch.ones(3)) for p in params)
    assert all(float(opt.state[p].get("step", 0)) == 0 for p in params)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_a_fused_step_under_gradscaler_equals_unscaled_training(name):
    def train(scaled: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        opt = getattr(optim, name)(model.parameters(), lr=0.01, fused=True)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, enabled=scaled)
        x, y = torch.randn(8, 4), torch.randn(8, 2)
        for _ in range(4):
            opt.zero_grad()
            scaler.scale(torch.nn.functional.mse_loss(model(x), y)).backward()
            scaler.step(opt)
            scaler.update()
        return [p.detach() for p in model.parameters()]

    for a, b in zip(train(True), train(False), strict=True):
        torch.testing.assert_close(a, b)  # a power of two scale divides out exactly


def test_step_hooks_and_the_profiler_see_every_step_as_with_torch(monkeypatch):
    p, q = (torch.ones(3, requires_grad=True) for _ in range(2))
    p.grad, q.grad = torch.ones(3), torch.ones(3)
    adam, sgd = optim.Adam([p], lr=0.1), optim.SGD([q], lr=0.1)
    seen = []
    adam.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", o)))
    adam.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", o)))
    adam.step()
    assert seen == [("pre", adam), ("post", adam)]
    handle = torch_optimizer.register_optimizer_step_pre_hook(lambda o, args, kwargs: seen.append(("all", o)))
    sgd.step()
    handle.remove()
    sgd.step()
    assert seen[2:] == [("all", sgd)]
    torch.testing.assert_close(q.detach(), torch.full((3,), 0.8))
    # without a hook or a profiler the step skips torch's wrapper (its profiler range and entry point) ...
    entered = []
    monkeypatch.setattr(sgd, "_optimizer_step_code", lambda: entered.append(1))
    sgd.step()
    assert not entered
    # ... and with a profiler on, the step is recorded as torch records its own
    with torch.profiler.profile() as prof:
        sgd.step()
    assert entered == [1]
    assert "Optimizer.step#SGD.step" in [e.name for e in prof.events()]
