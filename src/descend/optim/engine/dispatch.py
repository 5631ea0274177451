"""The general step of a parameter group, and the choice of backend for each batch of it.

The choice, for a batch of one device and dtype:

* ``differentiable=True``: the loop (the path autograd can follow);
* ``foreach=True`` / ``foreach=False``: the multi-tensor program / the loop, as asked;
* ``DESCEND_BACKEND=name``: that backend, for the default and ``fused=True`` paths; if it cannot run
  here, a ``RuntimeError`` saying why (never a silent fallback);
* ``fused=True``: the fused kernel of the device (:data:`FUSED`), or a ``RuntimeError`` saying why not;
* otherwise the first of :data:`DEFAULTS` for the device that can run. If a kernel of the default path
  fails to build, that backend is switched off for the process, with a warning, and the next one runs.

A batch's step is counted on the device (:class:`~descend.optim.engine.backend.OnDevice`: the kernel reads
the counters and computes the step's scalars itself, nothing waits for the device) where its backend can
(``counts_on_device``) and the group asks for it (``capturable=True`` or ``fused=True``, whose counters
live on the parameters' device, as in torch) or its counters are on a GPU. ``capturable=True`` on a path
that cannot honour it is an error, as in torch.

A rule that is not element-wise (it takes a matrix product, a mean over rows, ...: the tracer reports it,
:func:`~descend.optim.engine.graph.not_elementwise`; per-tensor norms count as element-wise on a backend
that computes them, the C kernel) or whose state is not shaped like its parameter runs per tensor whatever
was asked (``fused=True`` is then an error): stacked (:data:`~.loop.STACKED`: small
tensors of one shape in one mapped call), or the plain loop with ``foreach=False``, ``differentiable=True``
or ``DESCEND_BACKEND=loop``. Sparse gradients update the entries they hold: on the default path gathered
into one batch for the element-wise backend (:class:`~.loop.Gathered`), on any path asked for by the loop.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch import Tensor

from descend.optim.engine import checks, graph
from descend.optim.engine import counters as steps
from descend.optim.engine.backend import Backend, Batch, CompileError, OnDevice
from descend.optim.engine.c import C_BACKEND
from descend.optim.engine.c.kernel import REAL
from descend.optim.engine.foreach import FOREACH
from descend.optim.engine.loop import LOOP, STACKED, Gathered
from descend.optim.engine.triton import TRITON
from descend.optim.rule import Rule, Scalars

#: Every backend, by the name ``DESCEND_BACKEND`` gives it.
BACKENDS: dict[str, Backend] = {"loop": LOOP, "foreach": FOREACH, "c": C_BACKEND, "triton": TRITON}
#: What the default path tries, in order, on each device type (others: the loop, as torch).
DEFAULTS: dict[str, tuple[str, ...]] = {"cpu": ("c", "foreach"), "cuda": ("triton", "foreach")}
#: The backend ``fused=True`` means on each device type.
FUSED: dict[str, str] = {"cpu": "c", "cuda": "triton"}


def forced() -> str | None:
    """The backend ``DESCEND_BACKEND`` names, or None; an unknown name is an error."""
    name = os.environ.get("DESCEND_BACKEND")
    if not name:
        return None
    if name not in BACKENDS:
        raise ValueError(f"Invalid DESCEND_BACKEND: {name!r}; expected one of {', '.join(BACKENDS)}")
    return name


def choose(owner: str, group: dict[str, Any], device: torch.device, dtype: torch.dtype) -> Backend:
    """The backend that updates ``group``'s parameters of ``dtype`` on ``device`` (see the module's text)."""
    if group.get("differentiable"):
        return LOOP
    fused = group.get("fused")
    if not fused and group.get("foreach") is not None:
        return FOREACH if group["foreach"] else LOOP
    if fused and device.type not in FUSED:  # whatever DESCEND_BACKEND says: torch's error for fused=True
        raise RuntimeError(
            "`fused=True` requires all the params to be floating point Tensors of supported devices: "
            f"{list(FUSED)} but {dtype} and {device.type}; {owner} has no fused kernel for "
            f"{device.type} tensors: use foreach=True or leave fused=None"
        )
    name = forced()
    if name is not None:
        reason = BACKENDS[name].unavailable(device, dtype)
        if reason is not None:
            raise RuntimeError(f"{owner}: DESCEND_BACKEND={name} cannot run: {reason}")
        return BACKENDS[name]
    if fused:
        name = FUSED[device.type]
        reason = BACKENDS[name].unavailable(device, dtype)
        if reason is not None:
            raise RuntimeError(f"{owner}: fused=True cannot run: {reason}")
        return BACKENDS[name]
    for name in DEFAULTS.get(device.type, ("loop",)):
        if BACKENDS[name].unavailable(device, dtype) is None:
            return BACKENDS[name]
    return LOOP


Item = tuple[Tensor, Tensor, dict[str, Any]]


def _collect(opt: Any, group: dict[str, Any]) -> list[Item]:
    """The parameters of ``group`` that have a gradient, with their state (created on first use)."""
    items = []
    state_of = opt.state.get
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        if p.is_complex() and not opt.supports_complex:
            raise RuntimeError(f"{type(opt).__name__} does not support complex parameters")
        if g.is_sparse:
            g = opt._sparse(g, group)
        elif opt.sparse_gradients == "only":
            raise RuntimeError(
                f"{type(opt).__name__} does not support dense gradients, please consider Adam instead"
            )
        state = state_of(p) or (opt._new_state(p, group) if opt.has_state else {})
        items.append((p, g, state))
    return items


def _on_device(owner: str, opt: Any, group: dict[str, Any], backend: Backend, key: tuple,
               states: list[dict[str, Any]], host_only: bool) -> bool:  # fmt: skip
    """Whether a batch's step is counted on the device (see the module's text).

    ``host_only``: the algorithm's step needs the host (per-parameter numbers, state not shaped like its
    parameter). An update that is not element-wise is found when the kernel is traced (see step_group).
    """
    device, dtype = key[0], key[1]
    if host_only or not getattr(backend, "counts_on_device", False):
        if group.get("capturable"):
            why = BACKENDS["triton"].unavailable(device, dtype) or f"this group takes the {backend.name} path"
            raise RuntimeError(
                "If capturable=True, params and state_steps must be on supported devices: ['cuda']; "
                f"{owner} counts its steps on the device in its Triton kernel only, and {why}"
            )
        return False
    if group.get("capturable") or group.get("fused"):
        return True
    return opt.counts_steps and device.type != "cpu" and all(s["step"].device == device for s in states)


def _per_tensor(group: dict[str, Any]) -> Backend:
    """The backend of a rule no kernel fuses: stacked, but the plain loop where the group asks for it."""
    if group.get("differentiable") or group.get("foreach") is False or forced() == "loop":
        return LOOP
    return STACKED


def _sparse(opt: Any, group: dict[str, Any], device: torch.device, dtype: torch.dtype) -> Backend:
    """The backend of sparse gradients: the default path's element-wise backend on the gathered entries
    (:class:`~.loop.Gathered`), the loop wherever a path was asked for (it is torch's single-tensor one)."""
    if group.get("differentiable") or group.get("foreach") is not None or group.get("fused") or forced():
        return LOOP
    inner = opt._backend(group, device, dtype)
    return LOOP if inner in (LOOP, STACKED) else Gathered(inner)


def _run(opt: Any, group: dict[str, Any], backend: Backend, batch: Batch) -> Backend:
    """Run ``batch`` on ``backend`` (the loop for a rule that is not element-wise); the backend that ran."""
    if backend not in (LOOP, STACKED) and batch.on_device is None:
        reason = graph.not_elementwise(batch.rule, batch.h, batch.keys, batch.maximize, batch.dtype,
                                       getattr(backend, "reductions", False))  # fmt: skip
        if reason is not None:
            if group.get("fused"):
                raise RuntimeError(
                    f"{type(opt).__name__} has no fused kernel: its update is not element-wise (it uses "
                    f"{reason}); leave fused=None"
                )
            backend = _per_tensor(group)
    try:
        rest = backend.run(batch)
    except CompileError as e:
        if group.get("fused") or forced() is not None or batch.on_device is not None:
            raise
        backend.disable(str(e))  # type: ignore[attr-defined]  # see Backend: a backend that compiles has one
        backend = opt._backend(group, batch.device, batch.dtype)
        rest = backend.run(batch)
    if rest is not None:
        LOOP.run(rest)
    return backend


def step_group(
    opt: Any, group: dict[str, Any], index: int, plan: bool = True, grad_scale: Any = None,
    found_inf: Any = None,
) -> Any:  # fmt: skip
    """Update a group's parameters; if ``plan``, return a remembered step for the next ones, where one holds.

    Everything is checked, and every batch's backend chosen, before anything is written. With
    ``grad_scale`` the gradients are divided by it first (GradScaler's loss scale), inside the rule; where
    ``found_inf`` is nonzero nothing is updated and no step is counted.
    """
    rule = opt.rule if grad_scale is None else unscaling(opt.rule)
    owner = type(opt).__name__
    numbers = opt.scalar_state
    shape = None if opt.elementwise_state else opt.state_shape
    buckets: dict[tuple, list[Item]] = {}
    shaped: dict[tuple, bool] = {}  # whether every state tensor of a batch is shaped like its parameter
    for p, g, state in _collect(opt, group):
        names = tuple(state)
        key = (p.device, REAL.get(p.dtype, p.dtype), names, g.is_sparse)
        keys = _state_keys(names, numbers)
        checks.fits(owner, group, index, p, g, state, keys, shape, numbers)
        buckets.setdefault(key, []).append((p, g, state))
        if shape is not None:  # Adafactor: a vector's full second moment, but a matrix's factors
            shaped[key] = shaped.get(key, True) and all(tuple(shape(k, p)) == p.shape for k in keys)
    chosen = {
        key: _sparse(opt, group, *key[:2]) if key[3]
        else opt._backend(group, *key[:2]) if shaped.get(key, True)
        else _per_tensor(group)
        for key in buckets
    }  # fmt: skip
    host_only = bool(numbers) or shape is not None
    on_device = {key: _on_device(owner, opt, group, chosen[key], key, [s for _, _, s in items], host_only)
                 for key, items in buckets.items()}  # fmt: skip
    hyper = opt._hyperparameters(group) if not all(on_device.values()) else None
    maximize = bool(group.get("maximize"))
    whole, ran = None, set()
    for key, items in buckets.items():
        device, dtype, names, _ = key
        params, grads, states = (list(c) for c in zip(*items, strict=True))

        def keep(i: int, k: str, t: Tensor, params: list[Tensor] = params, states: list = states) -> None:
            opt._keep(params[i], states[i], k, t)

        keys = _state_keys(names, numbers)
        if on_device[key]:
            counters = [s["step"] for s in states] if opt.counts_steps else None
            raw = {k: v for k, v in group.items() if k != "params"}
            on = OnDevice(opt.scalars, raw, counters, grad_scale, found_inf)
            batch = Batch(opt.rule, None, keys, maximize, device, dtype, params, grads, states, keep, on)
            try:
                ran.add(_run(opt, group, chosen[key], batch))
                continue
            except graph.NotElementwise as e:  # traced before anything was written: count on the host
                if group.get("fused") or group.get("capturable"):
                    raise RuntimeError(
                        f"{owner} has no fused kernel: its update is not element-wise (it uses {e}); leave "
                        "fused=None and capturable=False"
                    ) from e
                chosen[key], hyper = _per_tensor(group), hyper or opt._hyperparameters(group)
        if found_inf is not None and float(found_inf) != 0:
            continue  # GradScaler found an inf or NaN in the gradients: no step, none counted
        whole = Batch(rule, None, keys, maximize, device, dtype, params, grads, states, keep)
        counts = steps.advance([s["step"] for s in states]) if opt.counts_steps else [0.0] * len(states)
        if numbers:  # per-parameter numbers: parameters that hold the same ones share a batch
            cells = [[s[k] for k in numbers] for s in states]
            counts = [(c, tuple(steps.read(cell))) for c, cell in zip(counts, cells, strict=True)]
        for count, indices in steps.by_step(counts):
            batch = whole if len(indices) == len(whole) else whole.part(indices)
            if numbers:
                values = dict(zip(numbers, count[1], strict=True))
                batch.h = opt.scalars(hyper, count[0], values)  # which advances the numbers
                for i in indices:
                    steps.write(cells[i], [values[k] for k in numbers])
            else:
                batch.h = opt.scalars(hyper, count)
            if grad_scale is not None:
                batch.h = Scalars(**vars(batch.h), grad_scale=float(grad_scale))
            ran.add(_run(opt, group, chosen[key], batch))
    if plan and whole is not None and len(buckets) == 1 and not numbers and ran == {chosen[key]} and hasattr(
        chosen[key], "plan"
    ):
        return chosen[key].plan(opt, group, whole)
    return None


@functools.cache
def unscaling(rule: Rule) -> Rule:
    """``rule`` on the gradient divided by ``h.grad_scale`` (one rule object per rule: kernels are cached)."""

    def unscaled(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        return rule(p, g / h.grad_scale, state, h)

    return unscaled


_KEYS: dict[tuple, tuple[str, ...]] = {}


def _state_keys(names: tuple[str, ...], numbers: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names of the state tensors a rule reads: all but ``step`` and the ``numbers`` (memoised)."""
    keys = _KEYS.get((names, numbers))
    if keys is None:
        keys = _KEYS[names, numbers] = tuple(k for k in names if k != "step" and k not in numbers)
    return keys
