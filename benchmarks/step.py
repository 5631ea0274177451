"""Time one optimizer step, side by side: descend (each path), torch.optim (each mode) and peers, in one run.

An optimizer step is bound by memory traffic, so each row also shows the machine's limit: the bytes a step
must move in one pass (SGD 12 per float32 parameter, momentum/AdaGrad/RMSProp/ASGD/Lion/Schedule-Free SGD 20,
Adadelta/Adam/AdamW/Yogi/NAdam/RAdam/Adamax/Rprop/Schedule-Free AdamW 28, Prodigy 40, Adan 44) over the
bandwidth of a large in-place update ``a += b`` measured in the same run. LAMB, LARS, Adafactor and Muon need
norms (and Muon matrix products) before they can update, so their one-pass figure is a bound they cannot
reach; Adafactor and Muon are timed on matrices. *descend fused* is ``fused=True``, or the default path where
an optimizer has no such switch (LAMB, LARS, Adafactor, Muon). Peers are timed where installed: pytorch-
optimizer (Yogi, Adadelta, and the modern methods torch lacks) and optax (jitted by XLA, buffers donated).
Times are the best of ``--reps`` steps after warm-up.

With ``--device cuda`` everything runs on the GPU: descend's fused step is its Triton kernel (``pip install
"descend[gpu]"``), against torch's fused, for-loop and foreach modes; each step is timed between device
synchronisations, the bandwidth is that of ``a += b`` on the GPU, and the extra memory is the growth of the
CUDA allocator's peak. Without a CUDA device, or without Triton, it stops with a message saying so.

    python benchmarks/step.py                      # 1M, 10M and 50M parameters in 100 tensors
    python benchmarks/step.py --sizes 1e7 --optimizers adam yogi --reps 10
    python benchmarks/step.py --device cuda --sizes 1e7 1e8
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

from descend import optim

# name -> (descend class, options, torch class or None, bytes per float32 parameter)
ALGORITHMS: dict[str, tuple[type, dict, type | None, int]] = {
    "sgd": (optim.SGD, {"lr": 1e-3}, torch.optim.SGD, 12),
    "momentum": (optim.SGD, {"lr": 1e-3, "momentum": 0.9}, torch.optim.SGD, 20),
    "adagrad": (optim.Adagrad, {"lr": 1e-2}, torch.optim.Adagrad, 20),
    "rmsprop": (optim.RMSprop, {"lr": 1e-2}, torch.optim.RMSprop, 20),
    "adadelta": (optim.Adadelta, {}, torch.optim.Adadelta, 28),
    "adam": (optim.Adam, {"lr": 1e-3}, torch.optim.Adam, 28),
    "adamw": (optim.AdamW, {"lr": 1e-3}, torch.optim.AdamW, 28),
    "yogi": (optim.Yogi, {"lr": 1e-2}, None, 28),
    "nadam": (optim.NAdam, {"lr": 2e-3}, torch.optim.NAdam, 28),
    "radam": (optim.RAdam, {"lr": 1e-3}, torch.optim.RAdam, 28),
    "adamax": (optim.Adamax, {"lr": 2e-3}, torch.optim.Adamax, 28),
    "rprop": (optim.Rprop, {"lr": 1e-2}, torch.optim.Rprop, 28),
    "asgd": (optim.ASGD, {"lr": 1e-2}, torch.optim.ASGD, 20),
    "lion": (optim.Lion, {"lr": 1e-4}, None, 20),
    "schedule-free-sgd": (optim.ScheduleFreeSGD, {"lr": 1.0}, None, 20),
    "schedule-free-adamw": (optim.ScheduleFreeAdamW, {"lr": 2.5e-3}, None, 28),
    "prodigy": (optim.Prodigy, {}, None, 40),
    "adan": (optim.Adan, {"lr": 1e-3}, None, 44),
    "lamb": (optim.LAMB, {"lr": 1e-3}, None, 28),
    "lars": (optim.LARS, {"lr": 1.0}, None, 20),
    "adafactor": (optim.Adafactor, {"lr": 1e-2}, torch.optim.Adafactor, 12),
    "muon": (optim.Muon, {"lr": 1e-3}, torch.optim.Muon, 20),
}
#: Algorithms for matrices, timed on square parameters.
MATRICES = {"adafactor", "muon"}


#: Where the benchmark runs (``--device``).
DEVICE = torch.device("cpu")


def bandwidth(n: int = 1 << 26) -> tuple[float, float]:
    """Bytes per second of a large in-place update ``a += b`` (12 bytes per float32 element) and of a copy.

    The in-place update is the limit's reference: like an optimizer step it reads what it writes, so no
    cache line is fetched only to be overwritten. A plain copy pays that extra read on its destination and
    so understates what a step can reach (its figure is printed for comparison).
    """
    a, b, c = torch.randn(n, device=DEVICE), torch.randn(n, device=DEVICE), torch.empty(n, device=DEVICE)
    update = min(timed(lambda: a.add_(b)) for _ in range(8))
    copy = min(timed(lambda: c.copy_(b)) for _ in range(8))
    return 12 * n / update, 8 * n / copy


def synchronize() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes, to the end of the work it queued on the device."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def make_params(numel: int, tensors: int, matrices: bool = False) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    side = int((numel // tensors) ** 0.5)
    shape = (side, side) if matrices else (numel // tensors,)
    params = [torch.randn(shape, generator=gen).to(DEVICE).requires_grad_() for _ in range(tensors)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).to(DEVICE)
    return params


def rss_peak_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def torch_style(
    make: Callable[[list[torch.Tensor]], object], numel: int, tensors: int, matrices: bool = False
) -> Callable | None:
    """A warmed-up ``step`` of a torch-style optimizer on fresh parameters, or None if it has no such mode."""
    params = make_params(numel, tensors, matrices)
    try:
        opt = make(params)
        opt.step()  # creates state; compiles where a path compiles
        opt.step()
    except (RuntimeError, ValueError, TypeError):
        return None  # e.g. torch has no fused RMSprop
    return opt.step


def extra_peak_bytes(step: Callable[[], object]) -> int:
    """How much the process's peak resident memory (on a GPU: the allocator's peak) grows during one step."""
    gc.collect()
    if DEVICE.type == "cuda":
        synchronize()
        torch.cuda.reset_peak_memory_stats(DEVICE)
        base = torch.cuda.memory_allocated(DEVICE)
        step()
        synchronize()
        return torch.cuda.max_memory_allocated(DEVICE) - base
    reset_peak()
    base = rss_peak_kib()
    step()
    return (rss_peak_kib() - base) * 1024


def optax_step(name: str, numel: int, tensors: int) -> Callable | None:
    """A warmed-up jitted optax step (buffers donated) that blocks until done, or None without optax.

    On CPU only: on a GPU the comparison is with torch's kernels, in the same process and memory pool.
    """
    if DEVICE.type != "cpu":
        return None
    try:
        import jax
        import optax
    except ImportError:
        return None
    makers = {
        "sgd": lambda: optax.sgd(1e-3), "momentum": lambda: optax.sgd(1e-3, momentum=0.9),
        "adagrad": lambda: optax.adagrad(1e-2), "rmsprop": lambda: optax.rmsprop(1e-2),
        "adadelta": lambda: optax.adadelta(1.0), "adam": lambda: optax.adam(1e-3),
        "adamw": lambda: optax.adamw(1e-3), "yogi": lambda: optax.yogi(1e-2),
    }  # fmt: skip
    tx = makers[name]()
    key = jax.random.PRNGKey(0)
    size = (numel // tensors,)
    params = [jax.random.normal(jax.random.fold_in(key, i), size) for i in range(tensors)]
    grads = [jax.random.normal(jax.random.fold_in(key, 1000 + i), size) for i in range(tensors)]

    def update(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(update, donate_argnums=(0, 1))
    carry = [params, tx.init(params)]

    def step() -> None:
        carry[0], carry[1] = jitted(carry[0], carry[1], grads)
        jax.block_until_ready(carry[0])

    step()
    step()
    return step


def peer(name: str) -> Callable | None:
    try:
        import pytorch_optimizer
    except ImportError:
        return None
    if name == "yogi":
        return lambda ps: pytorch_optimizer.Yogi(ps, lr=1e-2, initial_accumulator=0.0, weight_decouple=False)
    if name == "adadelta":
        return lambda ps: pytorch_optimizer.AdaDelta(ps)
    others = {"lion": "Lion", "lamb": "Lamb", "lars": "LARS", "adan": "Adan", "prodigy": "Prodigy",
              "schedule-free-sgd": "ScheduleFreeSGD", "schedule-free-adamw": "ScheduleFreeAdamW"}  # fmt: skip
    if name in others:
        cls, options = getattr(pytorch_optimizer, others[name]), ALGORITHMS[name][1]
        return lambda ps: cls(ps, **options)
    return None


FIRST_STEP = """
import time, torch
from descend import optim
p = [torch.randn(1000, device="{device}", requires_grad=True) for _ in range(4)]
for q in p: q.grad = torch.randn(1000, device="{device}")
opt = optim.{cls}(p, fused=True)
t = time.perf_counter(); opt.step(); torch.cuda.synchronize() if p[0].is_cuda else None
print(time.perf_counter() - t)
"""


def first_step_seconds(cls: str, cache: str) -> float:
    """The first fused step in a new process whose kernel caches (descend's, Triton's) are in ``cache``."""
    env = {**os.environ, "DESCEND_CACHE": cache, "TRITON_CACHE_DIR": os.path.join(cache, "triton")}
    out = subprocess.run([sys.executable, "-c", FIRST_STEP.format(cls=cls, device=DEVICE.type)], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def measure(name: str, numel: int, tensors: int, reps: int, slow: bool) -> tuple[dict, int, float]:
    """Best seconds per step of each contender for one algorithm and size, the fused step's extra memory,
    and the best seconds of the limit's reference (an in-place ``a += b`` over ``numel`` elements).

    All contenders are built first and then timed in turn, one step each per round, so that a drift in
    the machine's speed during the run touches every contender alike.
    """
    cls, options, torch_cls, _ = ALGORITHMS[name]
    make_peer = peer(name)
    mat = name in MATRICES
    # fused=True, or the default path of an optimizer without that switch (LAMB, LARS, Adafactor, Muon:
    # the C kernel where the rule compiles, with its per-tensor norms; per tensor where it does not)
    switch = "fused" in inspect.signature(cls).parameters
    fused = {"fused": True} if switch else {}
    contenders: dict[str, Callable | None] = {"descend fused": None}
    contenders["descend fused"] = torch_style(lambda ps: cls(ps, **fused, **options), numel, tensors, mat)
    extra = extra_peak_bytes(contenders["descend fused"]) if contenders["descend fused"] else 0
    slow = slow and contenders["descend fused"] is not None  # a rule that is not element-wise has no other
    for label, kw in (("descend loop", {"foreach": False}), ("descend foreach", {"foreach": True})):
        contenders[label] = None if slow else torch_style(lambda ps, kw=kw: cls(ps, **kw, **options), numel,
                                                          tensors, mat)  # fmt: skip
    for label, kw in (("torch fused", {"fused": True}), ("torch loop", {"foreach": False}),
                      ("torch foreach", {"foreach": True})):  # fmt: skip
        contenders[label] = None if torch_cls is None else torch_style(
            lambda ps, kw=kw: torch_cls(ps, **kw, **options), numel, tensors, mat)  # fmt: skip
    if torch_cls is not None and not any(contenders[k] for k in ("torch loop", "torch foreach")):
        # an optimizer with one implementation and no foreach switch (torch's Muon)
        contenders["torch loop"] = torch_style(lambda ps: torch_cls(ps, **options), numel, tensors, mat)
    contenders["pytorch-optimizer"] = (
        None if make_peer is None or slow else torch_style(make_peer, numel, tensors, mat)
    )
    contenders["optax"] = optax_step(name, numel, tensors) if name in OPTAX else None
    a, b = torch.randn(numel, device=DEVICE), torch.randn(numel, device=DEVICE)
    contenders["reference"] = lambda: a.add_(b)

    best = {label: float("inf") for label, fn in contenders.items() if fn is not None}
    for _ in range(reps):
        for label in best:
            best[label] = min(best[label], timed(contenders[label]))
    reference = best.pop("reference")
    return {label: best.get(label) for label in COLUMNS}, extra, reference


OPTAX = {"sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "yogi"}
COLUMNS = ["descend fused", "descend loop", "descend foreach", "torch fused", "torch loop", "torch foreach",
           "pytorch-optimizer", "optax"]  # fmt: skip


def row(name: str, numel: int, limit: float, cells: dict, extra: int) -> str:
    """One table row; ``limit`` is the step's bytes over the reference's bandwidth, in seconds."""
    ours = min(v for k, v in cells.items() if k.startswith("descend") and v is not None)
    theirs = [v for k, v in cells.items() if k.startswith("torch") and v is not None]
    out = [f"{numel / 1e6:g}M", name, f"{limit * 1e3:.1f}"]
    out += ["" if cells[c] is None else f"{cells[c] * 1e3:.1f}" for c in COLUMNS]
    out += [f"{ours / limit:.2f}x", f"{min(theirs) / ours:.2f}x" if theirs else ""]
    out += [f"{cells['optax'] / ours:.2f}x" if cells["optax"] else "", f"{extra / 2**20:.0f}"]
    return "| " + " | ".join(out) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 5e7])
    parser.add_argument("--tensors", type=int, default=100)
    parser.add_argument("--optimizers", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--no-slow", action="store_true",
                        help="at 50M and above, skip descend's eager paths where it is fused")  # fmt: skip
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is "
                         f"False; torch {torch.__version__})")  # fmt: skip
        from descend.optim.engine.triton import installed

        if installed() is not None:
            parser.error(f"--device cuda times descend's Triton kernels: {installed()}")
    global DEVICE
    DEVICE = torch.device(args.device)

    bw, copy_bw = bandwidth()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    if DEVICE.type == "cuda":
        import triton

        gpu = torch.cuda.get_device_name(DEVICE)
        machine = f"{gpu}, torch {torch.__version__}, Triton {triton.__version__}"
    print(
        f"# {machine}, {torch.get_num_threads()} threads; bandwidth of an in-place update a += b over 2^26 "
        f"floats {bw / 1e9:.1f} GB/s, of a copy {copy_bw / 1e9:.1f} GB/s. Each row's limit is the step's "
        "bytes over the bandwidth of a += b on as many elements, timed in the same rounds as the contenders."
    )
    with tempfile.TemporaryDirectory() as cold:
        print(f"# first fused step on {DEVICE.type} (trace + compile), cold cache / cached on disk, "
              "new process each:")  # fmt: skip
        for cls in ("SGD", "Adam", "Adadelta", "Yogi"):
            print(f"#   {cls}: {first_step_seconds(cls, cold):.2f} s / {first_step_seconds(cls, cold):.3f} s")
    print()
    titles = ["params", "optimizer", "limit ms", *COLUMNS[:-1], "optax jit", "best descend / limit",
              "best torch / best descend", "optax / best descend", "extra peak MiB (fused)"]  # fmt: skip
    print("| " + " | ".join(titles) + " |")
    print("|" + "---|" * len(titles))
    for size in args.sizes:
        numel = int(size)
        for name in args.optimizers:
            cells, extra, reference = measure(
                name, numel, args.tensors, args.reps, args.no_slow and numel >= 5e7
            )
            limit = ALGORITHMS[name][3] / 12 * reference  # the reference moves 12 bytes per element
            print(row(name, numel, limit, cells, extra), flush=True)


if __name__ == "__main__":
    main()
