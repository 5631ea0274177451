"""What every descend optimizer shares: parameter groups, validation, state, and the execution paths.

An algorithm is three small static pieces, and nothing else:

``init_state(param, group) -> dict``
    its state tensors for one parameter (besides ``step``, which the base class keeps as torch does);
``scalars(group, step) -> Scalars``
    the numbers the update needs at this step (learning rate, bias corrections, ...), plain arithmetic so
    that a hyperparameter may also be a tensor of per-row values (``descend.sweep`` relies on it);
``rule(param, grad, state, h) -> (param, state)``
    the update itself, written **once** with ordinary tensor arithmetic and returning the new values.

The execution paths all feed that one rule:

* per tensor (``foreach=False``): the rule on each parameter in turn; the ground truth;
* multi-tensor (``foreach=True``): the rule traced (:mod:`descend.optim.graph`) into a short program of
  in-place ``torch._foreach_*`` calls over every tensor that shares a device, dtype and step
  (:mod:`descend.optim.foreach`);
* fused (``fused=True``): the traced rule as one generated C loop over all those tensors, a single pass
  over memory (:mod:`descend.optim.fused`);
* a sweep evaluates the same rule on a ``(K, d)`` tensor with ``(K, 1)`` hyperparameters.

The default (``foreach=None, fused=None``) is torch's choice on CUDA (multi-tensor) and, on CPU, the fused
path for float32 and float64 parameters when a C compiler is present (it is the fastest there at every size:
for a hundred small tensors it does in one call what the loop does in a hundred), else the loop. A group
that the fused path took whole remembers what the kernel walks and, on later steps, checks only what can
have changed (:mod:`descend.optim.plan`).

Parameters whose gradient is ``None`` are skipped and keep their state, complex parameters are updated
through their real view (as torch.optim does), and ``maximize`` negates the gradient before the rule.
The state layout is torch.optim's, so state dicts move between torch and descend in both directions.
"""

from __future__ import annotations

import array
import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from torch import Tensor

from descend.optim import foreach, fused
from descend.optim.plan import FusedPlan

Scalars = SimpleNamespace

Item = tuple[Tensor, Tensor, dict[str, Any]]
Rule = Callable[[Any, Any, dict[str, Any], Scalars], tuple[Any, dict[str, Any]]]


# --------------------------------------------------------------------------------------------------------
# Validation: every message names the argument, the value and what was expected.


def _bad(name: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"Invalid {name}: {value!r}; expected {expected}")


def number(name: str, value: Any) -> float:
    """``value`` as a float; a one-element tensor is accepted (torch allows a tensor ``lr``)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"Invalid {name}: a tensor with {value.numel()} elements; "
                "expected a number or a one-element tensor"
            )
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Invalid {name}: {value!r}; expected a real number")
    return float(value)


def nonnegative(name: str, value: Any) -> None:
    v = number(name, value)
    if not v >= 0.0:  # also rejects NaN
        raise _bad(name, value, f"{name} >= 0")


def in_unit_interval(name: str, value: Any) -> None:
    if not 0.0 <= number(name, value) <= 1.0:
        raise _bad(name, value, f"0 <= {name} <= 1")


def betas_pair(value: Any) -> None:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise _bad("betas", value, "a pair (beta1, beta2)")
    for i, beta in enumerate(value):
        v = number(f"beta at index {i}", beta)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"Invalid beta at index {i}: {beta!r}; expected 0 <= beta < 1")


def flag(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        expected = "True, False or None" if optional else "True or False"
        raise TypeError(f"Invalid {name}: {value!r}; expected {expected}")


def on(x: Any) -> bool:
    """Whether a term with coefficient ``x`` takes part in the update.

    A tensor coefficient (per-row values in a sweep) always takes part: rows where it is zero then compute
    exactly what the term's absence would.
    """
    return isinstance(x, Tensor) or x != 0


def plus(x: Any, c: Any) -> Any:
    """``x + c``, leaving out the addition when ``c`` is the number 0: the same result, one pass fewer."""
    return x + c if on(c) else x


def scaled(c: Any, x: Any) -> Any:
    """``c * x``, leaving out the product when ``c`` is the number 1: the same result, one pass fewer."""
    return x if isinstance(c, int | float) and c == 1 else c * x


def value(x: Any) -> Any:
    """A group's hyperparameter as the rule sees it: one-element tensors become floats, as in torch.optim."""
    return x.item() if isinstance(x, Tensor) and x.numel() == 1 else x


def scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


# --------------------------------------------------------------------------------------------------------


def _one_path(group: dict[str, Any]) -> None:
    flag("foreach", group.get("foreach"), optional=True)
    flag("fused", group.get("fused"), optional=True)
    if group.get("fused") and group.get("foreach"):
        raise ValueError("Invalid foreach and fused: both True; expected at most one of them to be True")


def _real(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def _stored(new: Tensor, param: Tensor) -> Tensor:
    """A state tensor first produced by the rule, stored in the parameter's own (possibly complex) type."""
    return torch.view_as_complex(new.contiguous()) if param.is_complex() else new


class Optimizer(torch.optim.Optimizer):
    """Base of descend's optimizers: a :class:`torch.optim.Optimizer` driven by one update rule.

    Subclasses define :meth:`init_state`, :meth:`scalars`, :meth:`rule` and :meth:`check` (validation of a
    group's hyperparameters), and pass their defaults to ``__init__``.
    """

    #: Whether the algorithm counts steps in ``state["step"]`` (torch's SGD keeps no step).
    counts_steps: ClassVar[bool] = True
    #: Whether sparse gradients are accepted (densified before the rule).
    accepts_sparse: ClassVar[bool] = False
    #: Whether state is created at construction (torch's Adagrad does, and its step expects it).
    eager_state: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # whether a parameter has state before its first update (plain SGD has none: nothing to create)
        cls.has_state = cls.counts_steps or cls.init_state is not Optimizer.init_state

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._plans: dict[int, FusedPlan | None] = {}  # by group index (descend.optim.plan)
        self.check(defaults)
        _one_path(defaults)
        super().__init__(params, defaults)
        if self.eager_state:
            for group in self.param_groups:
                for p in group["params"]:
                    self._new_state(p, group)

    # ---- what an algorithm defines ----------------------------------------------------------------------

    @staticmethod
    def check(group: dict[str, Any]) -> None:
        """Raise ``ValueError``/``TypeError`` naming any invalid hyperparameter of ``group``."""

    @staticmethod
    def init_state(param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """The algorithm's state tensors for a parameter, before its first update (``step`` excluded)."""
        return {}

    @staticmethod
    def scalars(group: dict[str, Any], step: float) -> Scalars:
        """The numbers the rule needs at ``step`` (1 for the first update)."""
        raise TypeError("an optimizer must define scalars(group, step)")

    @staticmethod
    def rule(p: Any, g: Any, state: dict[str, Any], h: Scalars) -> tuple[Any, dict[str, Any]]:
        """The update: new parameter and new state from the old ones and the gradient."""
        raise TypeError("an optimizer must define rule(p, g, state, h)")

    # ---- torch.optim.Optimizer plumbing -----------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self.check(group)
            _one_path(group)
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._plans = {}
        # A state dict saved by torch.optim lacks descend's own keys (eps_root, ...): take our defaults.
        for group in self.param_groups:
            for key, default in self.defaults.items():
                group.setdefault(key, default)
        # Older torch versions saved SGD's momentum_buffer as None before its first use: no buffer yet.
        for param_state in self.state.values():
            for key in [k for k, v in param_state.items() if v is None]:
                del param_state[key]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by descend or by the torch.optim optimizer of the same algorithm.

        The execution path (``foreach``, ``fused``) is this optimizer's choice, not the saved one's: it does
        not change the result, and a state dict from torch's fused Adam must load into any path.
        """
        paths = [(g.get("foreach"), g.get("fused")) for g in self.param_groups]
        self._plans.clear()
        super().load_state_dict(state_dict)
        for group, (use_foreach, use_fused) in zip(self.param_groups, paths, strict=True):
            group["foreach"], group["fused"] = use_foreach, use_fused

    # Dynamo would re-trace the step's bookkeeping (state creation, bucketing) as the state changes and gain
    # nothing: the update itself is one kernel or plain tensor code. In a compiled training step, the step
    # runs eagerly and the model's forward and backward stay compiled.
    @torch.compiler.disable
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update of every parameter that has a gradient; return ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            remembered = self._plans.get(i)
            if remembered is not None and remembered.group is group and remembered.step(self):
                continue
            # after a plan fails, plan again only on the next step: where the parameters with a gradient
            # change every step (unused experts, say), a plan would be made and dropped each time
            self._plans[i] = self._step_group(group, plan=remembered is None)
        return loss

    # ---- the execution paths ----------------------------------------------------------------------------

    def _dense(self, g: Tensor, group: dict[str, Any]) -> Tensor:
        """A sparse gradient, densified, where the algorithm accepts it (the rule is elementwise)."""
        if not self.accepts_sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if group.get("weight_decay", 0) != 0:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        return g.to_dense()

    def _new_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's state before its first update.

        It enters ``self.state`` once it holds something (see :meth:`_keep`): like torch, no entry for a
        parameter without state (plain SGD), so the state dicts of the two are the same.
        """
        state = {"step": torch.tensor(0.0, dtype=scalar_dtype())} if self.counts_steps else {}
        state.update(self.init_state(p, group))
        if state:
            self.state[p] = state
        return state

    def _keep(self, p: Tensor, state: dict[str, Any], key: str, value: Tensor) -> None:
        """Store state that the rule created (SGD's momentum buffer on its first step)."""
        state[key] = value
        self.state[p] = state

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        """A group's hyperparameters as :meth:`scalars` takes them (one-element tensors become floats)."""
        return {k: value(v) for k, v in group.items() if k != "params"}

    def _step_group(self, group: dict[str, Any], plan: bool = True) -> FusedPlan | None:
        """Update a group's parameters; if ``plan``, return a plan for the next steps where one can hold."""
        # Plain Python over every parameter on every step: one pass, a few lookups per parameter.
        buckets: dict[tuple, list[Item]] = {}
        state_of = self.state.get
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                g = self._dense(g, group)
            state = state_of(p) or (self._new_state(p, group) if self.has_state else {})
            key = (p.device, fused.REAL.get(p.dtype, p.dtype), tuple(state))
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = []
            bucket.append((p, g, state))
        maximize = bool(group.get("maximize"))
        hyper = self._hyperparameters(group)
        for (device, dtype, names), bucket in buckets.items():
            keys = _state_keys(names)
            for step, items in self._count(bucket):
                self._update(group, device, dtype, keys, self.scalars(hyper, step), maximize, items)
        if not plan or len(buckets) != 1 or device.type != "cpu":
            return None
        if self._path(group, device, dtype) != "fused":
            return None
        return FusedPlan.make(self, group, bucket, _state_keys(tuple(bucket[0][2])), dtype)

    def _count(self, items: list[Item]) -> list[tuple[float, list[Item]]]:
        """Advance the step counters of ``items``; return the items grouped by their new step."""
        if not self.counts_steps:
            return [(0.0, items)]
        steps = fused.count([state["step"] for _, _, state in items])
        if len(set(steps)) == 1:
            return [(steps[0], items)]
        by_step: dict[float, list[Item]] = {}
        for item, step in zip(items, steps, strict=True):
            by_step.setdefault(step, []).append(item)
        return list(by_step.items())

    def _update(
        self,
        group: dict[str, Any],
        device: torch.device,
        dtype: torch.dtype,
        keys: tuple[str, ...],
        h: Scalars,
        maximize: bool,
        items: list[Item],
    ) -> None:
        """Update ``items`` (same device, dtype, state keys and step) on the path the group asks for."""
        path = self._path(group, device, dtype)
        if path == "fused":
            try:
                items = self._apply_fused(items, keys, h, dtype, maximize)
            except fused.CompileError as e:
                if group.get("fused"):
                    raise
                fused.disable(str(e))  # the default path is never worse than the loop
                path = "loop"
        if path == "foreach":
            self._apply_foreach(items, keys, h, maximize)
        else:
            for item in items:
                self._apply_one(item, keys, h, maximize)

    def _path(self, group: dict[str, Any], device: torch.device, dtype: torch.dtype) -> str:
        """``"fused"``, ``"foreach"`` or ``"loop"`` for one bucket of parameters."""
        if group.get("fused"):
            if device.type != "cpu":
                raise RuntimeError(
                    f"{type(self).__name__}: fused=True runs on CPU tensors; for {device.type} tensors "
                    "use foreach=True or leave fused=None"
                )
            if fused.compiler() is None:
                raise fused.CompileError(
                    f"{type(self).__name__}: fused=True needs a C compiler (set CC, or install gcc)"
                )
            return "fused"
        if group.get("foreach") is not None:
            return "foreach" if group["foreach"] else "loop"
        if device.type == "cuda":  # torch's choice: the multi-tensor path saves kernel launches on CUDA
            return "foreach"
        if group.get("fused") is None and dtype in fused.C_TYPES and fused.usable():
            return "fused"
        return "loop"

    def _apply_fused(
        self, items: list[Item], keys: tuple[str, ...], h: Scalars, dtype: torch.dtype, maximize: bool
    ) -> list[Item]:
        """Run the fused kernel over the items it can take; return the others, for the per-tensor path."""
        if dtype not in fused.C_TYPES:  # half precision and the like: the per-tensor path
            return items
        kernel = fused.kernel(self.rule, h, keys, dtype, maximize)
        table: list[int] = []
        sizes, params, rest = [], [], []
        for item in items:
            p, g, state = item
            ptrs = fused.addresses([p, g, *[state[k] for k in keys]], p.dtype)
            if ptrs is None:
                rest.append(item)
                continue
            for k in kernel.new_keys:
                self._keep(p, state, k, torch.zeros_like(p, memory_format=torch.contiguous_format))
                ptrs.append(state[k].data_ptr())
            table += ptrs
            sizes.append(p.numel() * (2 if p.is_complex() else 1))
            params.append(p)
        if params:
            kernel(array.array("q", table), sizes, h)
            # the kernel wrote through pointers: tell autograd, as an in-place op would
            torch.autograd.graph.increment_version(params)
        return rest

    def _apply_foreach(self, items: list[Item], keys: tuple[str, ...], h: Scalars, maximize: bool) -> None:
        """The rule as in-place multi-tensor operations over ``items`` (:mod:`descend.optim.foreach`)."""
        registers = [
            [_real(param) for param, _, _ in items],
            [_real(grad) for _, grad, _ in items],
            *([_real(state[k]) for _, _, state in items] for k in keys),
        ]
        run = foreach.program(self.rule, h, keys, maximize)
        for k, fresh in zip(run.new_keys, run(registers, h), strict=True):
            for (param, _, state), t in zip(items, fresh, strict=True):
                self._keep(param, state, k, _stored(t, param))

    def _apply_one(self, item: Item, keys: tuple[str, ...], h: Scalars, maximize: bool) -> None:
        """The rule on one parameter, in plain tensor arithmetic: the ground truth of the other paths."""
        param, grad, state = item
        p, g = _real(param), _real(grad)
        old = {k: _real(state[k]) for k in keys}
        new_p, new = self.rule(p, -g if maximize else g, old, h)
        p.copy_(new_p)
        for k, v in new.items():
            if k in old:
                old[k].copy_(v)
            else:
                self._keep(param, state, k, _stored(v, param))


@functools.cache
def _state_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The names of a parameter's state tensors, ``step`` aside (cached: the same few tuples recur)."""
    return tuple(k for k in keys if k != "step")


def accumulator(param: Tensor, start: float) -> Tensor:
    """A state tensor filled with ``start``; for a complex parameter both parts start there, as in torch."""
    fill = complex(start, start) if param.is_complex() else start
    return torch.full_like(param, fill, memory_format=torch.preserve_format)


def bias_corrections(beta1: Any, beta2: Any, step: float) -> tuple[Any, Any]:
    """Adam's bias corrections ``1 − β1^t`` and ``1 − β2^t``."""
    return 1 - beta1**step, 1 - beta2**step


__all__ = [
    "Optimizer",
    "Scalars",
    "accumulator",
    "betas_pair",
    "bias_corrections",
    "flag",
    "in_unit_interval",
    "nonnegative",
    "number",
    "on",
    "plus",
    "scaled",
    "value",
]
