"""The base class of descend's optimizers: a ``torch.optim.Optimizer`` driven by one update rule.

A subclass supplies the algorithm (:mod:`descend.optim.rule`: ``check``, ``init_state``, ``scalars``,
``rule``) and its defaults; this class keeps parameter groups and state as torch does, and hands each step to
the engine (:mod:`descend.optim.engine`), which checks, counts and runs the rule on a backend.

Parameters whose gradient is ``None`` are skipped and keep their state, complex parameters are updated
through their real view (as torch.optim does), and ``maximize`` negates the gradient before the rule.
The state layout is torch.optim's, so state dicts move between torch and descend in both directions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torch.optim import optimizer as torch_optimizer

from descend.optim.engine import dispatch
from descend.optim.engine.backend import Backend
from descend.optim.rule import Scalars, flag, scalar_dtype, value


def _check_paths(group: dict[str, Any]) -> None:
    for key in ("foreach", "fused"):
        flag(key, group.get(key), optional=True)
    for key in ("capturable", "differentiable"):
        flag(key, group.get(key, False))
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if group.get("fused") and group.get("differentiable"):
        raise RuntimeError("`fused` does not support `differentiable`")


class Optimizer(torch.optim.Optimizer):
    """Base of descend's optimizers: a :class:`torch.optim.Optimizer` driven by one update rule.

    Subclasses define :meth:`init_state`, :meth:`scalars`, :meth:`rule` and :meth:`check` (validation of a
    group's hyperparameters), and pass their defaults to ``__init__``.
    """

    #: Whether the algorithm counts steps in ``state["step"]`` (torch's SGD keeps no step).
    counts_steps: ClassVar[bool] = True
    #: What a sparse gradient means: refused (None), densified ("dense"), or an update of only the entries
    #: it holds ("support", which refuses weight decay, as torch's sparse Adagrad does; "only": the same,
    #: and dense gradients are refused, as by torch's SparseAdam).
    sparse_gradients: ClassVar[Literal["dense", "support", "only"] | None] = None
    #: Whether state is created at construction (torch's Adagrad does, and its step expects it).
    eager_state: ClassVar[bool] = False
    #: Whether the rule can run on the rows of a sweep (:func:`descend.sweep`): each row its own run, the
    #: hyperparameters per-row tensors. Not where the update takes norms or matrix products over a tensor
    #: (rows would mix) or needs work on the whole group (:meth:`prepare`).
    sweepable: ClassVar[bool] = True
    #: Per-parameter numbers kept as one-element tensors (torch's layout: NAdam's ``mu_product``, ASGD's
    #: ``eta`` and ``mu``). The rule never sees them: :meth:`scalars` reads them and advances them.
    scalar_state: ClassVar[tuple[str, ...]] = ()
    #: Whether complex parameters are taken (through their real view, as torch.optim does).
    supports_complex: ClassVar[bool] = True
    #: Whether a parameter has state before its first update (plain SGD has none: nothing to create).
    has_state: ClassVar[bool]
    #: Whether every state tensor is shaped like its parameter (set from :meth:`state_shape`).
    elementwise_state: ClassVar[bool]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.has_state = cls.counts_steps or cls.init_state is not Optimizer.init_state
        cls.elementwise_state = cls.state_shape is Optimizer.state_shape

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._plans: dict[int, Any] = {}  # by group index: a remembered step (descend.optim.engine)
        self.check(defaults)
        _check_paths(defaults)
        super().__init__(params, defaults)
        # GradScaler then hands the step its scale and inf flag (grad_scale, found_inf) instead of
        # unscaling the gradients itself, as with torch's fused optimizers
        self._step_supports_amp_scaling = bool(defaults.get("fused"))
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
    def scalars(group: dict[str, Any], step: float, numbers: dict[str, float] | None = None) -> Scalars:
        """The numbers the rule needs at ``step`` (1 for the first update).

        An algorithm with :attr:`scalar_state` is handed the parameter's current ``numbers`` and writes their
        next values into that dict.
        """
        raise TypeError("an optimizer must define scalars(group, step)")

    @staticmethod
    def state_shape(key: str, param: Tensor) -> tuple[int, ...]:
        """The shape of state ``key`` of ``param``: the parameter's own, unless the algorithm says otherwise.

        State shaped like its parameter is element-wise; an algorithm that keeps other state (Adafactor's
        row and column factors) overrides this, and its update then runs per tensor.
        """
        return param.shape

    def prepare(self) -> bool:
        """Work on whole groups before the update (Prodigy's distance estimate, Schedule-Free's weights).

        Called once per :meth:`step`, after the closure; returning False skips the update.
        """
        return True

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
            _check_paths(group)
        except (ValueError, TypeError, RuntimeError):  # the group stays out, as torch's does
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._plans = {}
        # A state dict saved by torch.optim lacks descend's own keys (eps_root, ...): take our defaults; not
        # the ``differentiable`` that torch's __setstate__ adds to the defaults of an algorithm without one.
        own = "differentiable" in inspect.signature(type(self).__init__).parameters
        for group in self.param_groups:
            for key, default in self.defaults.items():
                if key != "differentiable" or own:
                    group.setdefault(key, default)
        for param_state in self.state.values():
            # Older torch versions saved SGD's momentum_buffer as None before its first use: no buffer yet.
            for key in [k for k, v in param_state.items() if v is None]:
                del param_state[key]
            # ... and a step as a number: a counter tensor now, as torch's own optimizers convert it.
            for key in ("step", *self.scalar_state) if self.counts_steps else self.scalar_state:
                if key in param_state and not isinstance(param_state[key], Tensor):
                    param_state[key] = torch.tensor(float(param_state[key]), dtype=scalar_dtype())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by descend or by the torch.optim optimizer of the same algorithm.

        The execution path (``foreach``, ``fused``) is this optimizer's choice, not the saved one's: it does
        not change the result, and a state dict from torch's fused Adam must load into any path. Where this
        optimizer counts steps on the device (``capturable``, ``fused``), the loaded counters go there.
        """
        paths = [{k: g[k] for k in ("foreach", "fused") if k in g} for g in self.param_groups]
        self._plans.clear()
        super().load_state_dict(state_dict)
        for group, path in zip(self.param_groups, paths, strict=True):
            group.update(path)
            if group.get("capturable") or group.get("fused"):
                for p in group["params"]:
                    state = self.state.get(p, {})
                    if isinstance(state.get("step"), Tensor) and state["step"].device != p.device:
                        state["step"] = state["step"].to(p.device)

    @staticmethod
    def profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
        """``step`` wrapped as torch wraps it (step hooks, a profiler range), where that has work to do.

        torch's wrapper opens a ``record_function`` range and walks the hook tables on every step: tens of
        microseconds, spent whether or not a profiler records or a hook is registered. Here the step goes
        through torch's own wrapper whenever a profiler is on or any step hook, global or this
        optimizer's, is registered, and straight to the update otherwise.
        """
        wrapped = torch.optim.Optimizer.profile_hook_step(func)
        profiling = torch._C._autograd._profiler_enabled

        @functools.wraps(func)
        def step(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
            if (profiling() or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                    or torch_optimizer._global_optimizer_pre_hooks
                    or torch_optimizer._global_optimizer_post_hooks):  # fmt: skip
                return wrapped(self, *args, **kwargs)
            return func(self, *args, **kwargs)

        return step

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one update of every parameter that has a gradient; return ``closure()``'s loss if given."""
        if torch.compiler.is_compiling():
            # Dynamo would re-trace the step's bookkeeping (state creation, batching) as the state changes
            # and gain nothing: the update itself is one kernel or plain tensor code. In a compiled training
            # step, the step runs eagerly and the model's forward and backward stay compiled. (Decorating
            # the method would import torch._dynamo, seconds, with descend.optim.)
            return torch.compiler.disable(Optimizer._step)(self, closure)
        return self._step(closure)

    def _step(self, closure: Callable[[], Any] | None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grad_scale, found_inf = getattr(self, "grad_scale", None), getattr(self, "found_inf", None)
        # as torch: the update is recorded by autograd only when the optimizer is differentiable
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable"))):
            # an algorithm's own work on whole groups, unless GradScaler found an inf (read where one is set)
            own = type(self).prepare is not Optimizer.prepare
            skipped = own and found_inf is not None and bool(found_inf)
            if skipped or not self.prepare():
                return loss
            for i, group in enumerate(self.param_groups):
                if grad_scale is not None or found_inf is not None:
                    # GradScaler's scale and inf flag: the kernel reads them where the step is counted on
                    # the device; elsewhere an unscaling rule, and no step where found_inf is set; no plan
                    dispatch.step_group(self, group, i, False, grad_scale, found_inf)
                    continue
                remembered = self._plans.get(i)
                if remembered is not None and remembered.group is group and remembered.step(self):
                    continue
                # after a plan fails, plan again only on the next step: where the parameters with a gradient
                # change every step (unused experts, say), a plan would be made and dropped each time
                self._plans[i] = dispatch.step_group(self, group, i, plan=remembered is None)
        return loss

    # ---- what the engine asks of an optimizer -----------------------------------------------------------

    def _backend(self, group: dict[str, Any], device: torch.device, dtype: torch.dtype) -> Backend:
        return dispatch.choose(type(self).__name__, group, device, dtype)

    def _sparse(self, g: Tensor, group: dict[str, Any]) -> Tensor:
        """A sparse gradient as the algorithm takes it (see :attr:`sparse_gradients`)."""
        if self.sparse_gradients is None:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if self.sparse_gradients == "dense":
            return g.to_dense()
        if group.get("weight_decay", 0) != 0:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        return g

    def _new_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's state before its first update.

        It enters ``self.state`` once it holds something (see :meth:`_keep`): like torch, no entry for a
        parameter without state (plain SGD), so the state dicts of the two are the same.
        """
        # as torch: on the parameter's device where the step is counted there (capturable, fused)
        on_device = group.get("capturable") or group.get("fused")
        step = torch.zeros((), dtype=scalar_dtype(), device=p.device if on_device else None)
        state = {"step": step} if self.counts_steps else {}
        state.update(self.init_state(p, group))
        if state:
            self.state[p] = state
        return state

    def _keep(self, p: Tensor, state: dict[str, Any], key: str, t: Tensor) -> None:
        """Store state the rule created (SGD's momentum buffer on its first step), in ``p``'s own type."""
        state[key] = torch.view_as_complex(t.contiguous()) if p.is_complex() and not t.is_complex() else t
        self.state[p] = state

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        """A group's hyperparameters as :meth:`scalars` takes them (one-element tensors become floats)."""
        return {k: value(v) for k, v in group.items() if k != "params"}


__all__ = ["Optimizer"]
