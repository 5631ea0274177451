"""The playground's controls: one slider, switch or menu per hyperparameter, made from its default.

Every optimizer (and every method of :func:`descend.minimize`, and every schedule) says what it takes
through its signature; :func:`control` turns one ``(name, default)`` pair into the description the page
draws a control from, so that a new optimizer gets its controls without any change here:

- a switch for a ``bool``; a menu where the argument takes one of a few words (``line_search_fn``, ...);
- a slider on a log scale for step sizes and small constants (``lr``, ``eps``, ``weight_decay``, ...): a
  default of 0 puts 0 at the slider's left end, a default of ∞ puts ∞ at its right end;
- a linear slider on [0, 1) for averaging constants (``momentum``, ``betas``' entries, ``rho``, ...), on
  [2d, 0] for a negative default d (Adafactor's ``beta2_decay``), on [0, 2d] for other positive ones;
- an integer slider for an ``int``; one control per entry for a tuple (``betas`` of two or three entries);
- ``inf`` stands for ∞ in ``default`` and ``start`` (JSON has no infinity);
- ``optional``: the argument's default is None (chosen by the optimizer): the page offers "auto" beside
  a slider of the kind the name suggests.

>>> control("lr", 0.001)["kind"], control("lr", 0.001)["min"]
('log', 1e-06)
>>> [c["kind"] for c in control("betas", (0.9, 0.999))["items"]]
['linear', 'linear']
>>> control("beta2_decay", -0.8)["min"], control("beta2_decay", -0.8)["max"]
(-1.6, 0.0)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["HIDDEN", "control", "controls"]

#: How an argument runs, not what it computes: no control.
HIDDEN = frozenset({"foreach", "fused", "differentiable", "capturable", "beta1", "beta2", "schedule"})

#: Averaging constants and fractions: a linear slider on [0, 1).
_UNIT = frozenset({"momentum", "dampening", "alpha", "rho", "c2", "shrink", "factor", "pct_start", "r"})

#: Step sizes, tolerances and small constants: a log slider.
_LOG = frozenset(
    {
        "lr", "eps", "eps_root", "weight_decay", "lr_decay", "lambd", "t0", "d0", "d_coef",
        "tolerance_grad", "tolerance_change", "trust_coefficient", "initial_accumulator_value",
        "momentum_decay", "growth_rate", "step_sizes", "damping", "c1", "rate", "alpha_max", "line_tol",
        "div_factor", "final_div_factor", "final_lr", "min_lr", "warmup_begin_lr", "stop_factor_lr",
        "end_lr", "start_lr", "base_lr", "max_lr", "values",
    }
)  # fmt: skip

#: Arguments that take one of a few words (None: the optimizer's own choice).
_CHOICES: dict[str, list[Any]] = {
    "line_search_fn": [None, "strong_wolfe"],
    "adjust_lr_fn": [None, "original", "match_rms_adamw"],
    "modify": [None, "abs", "damp"],
    "anneal_strategy": ["cos", "linear"],
}

#: Where a slider starts for an argument whose default is None.
_UNSET_START: dict[str, float] = {"beta3": 0.99, "max_eval": 25, "eps": 1e-30, "max_trials": 50}

_LR_RANGE = (1e-6, 1e2)
_POSITIONS = 400  # slider positions: one arrow key press moves by one


def _unit(name: str) -> bool:
    return name in _UNIT or name.startswith("beta")


#: Log sliders whose left end is 0 (the constant may be switched off).
_ZERO_OK = frozenset(
    {
        "eps", "eps_root", "weight_decay", "lr_decay", "lambd", "initial_accumulator_value",
        "momentum_decay", "final_lr", "min_lr", "warmup_begin_lr", "stop_factor_lr", "end_lr",
        "tolerance_grad", "tolerance_change", "damping", "line_tol",
    }
)  # fmt: skip


def _number(name: str, default: float) -> dict[str, Any]:
    if name in _LOG or math.isinf(default):
        if name == "lr":
            lo, hi = _LR_RANGE
        elif math.isinf(default):
            lo, hi = 1.0, 1e4
        elif default == 0:
            lo, hi = 1e-8, 1.0
        else:
            lo, hi = abs(default) * 1e-4, abs(default) * 1e4
        zero = default == 0 or name in _ZERO_OK
        return {"kind": "log", "min": lo, "max": hi, "zero": zero, "inf": math.isinf(default)}
    if _unit(name) and 0 <= default < 1:
        return {"kind": "linear", "min": 0.0, "max": 0.999}
    if default < 0:
        return {"kind": "linear", "min": 2 * default, "max": 0.0}
    return {"kind": "linear", "min": 0.0, "max": 2 * default if default > 0 else 1.0}


def control(name: str, default: Any) -> dict[str, Any]:
    """The control of one argument: ``key``, ``kind`` (``log``, ``linear``, ``int``, ``bool``, ``choice`` or
    ``tuple``), ``default``, ``start`` (where the slider starts: the default, or a value of the right kind
    where the default is None), and per kind ``min``/``max`` (``zero``/``inf``: 0 or ∞ at the ends of a log
    slider), ``options`` (a menu's), ``items`` (a tuple's entries), ``optional`` (None is allowed)."""
    shown = "inf" if isinstance(default, float) and math.isinf(default) else default  # JSON has no ∞
    out: dict[str, Any] = {"key": name, "default": shown, "optional": default is None}
    if name in _CHOICES:
        return {**out, "kind": "choice", "options": _CHOICES[name], "optional": False}
    if isinstance(default, bool):
        return {**out, "kind": "bool"}
    if isinstance(default, tuple | list):
        items = [control(name, v) for v in default]
        return {**out, "kind": "tuple", "default": list(default), "items": items}
    start = _UNSET_START.get(name, 0.9 if _unit(name) else 1e-3) if default is None else default
    if isinstance(start, int) and name not in _LOG:  # a count (lr=1 of L-BFGS is a step size)
        high = max(10, 4 * start) if start > 0 else 100
        return {**out, "kind": "int", "min": 0 if start == 0 else 1, "max": high, "start": start}
    number = _number(name, float(start))
    return {**out, **number, "start": "inf" if number.get("inf") else float(start), "positions": _POSITIONS}


def controls(defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """The controls of every argument in ``defaults`` but those in :data:`HIDDEN`, in signature order."""
    return [control(k, v) for k, v in defaults.items() if k not in HIDDEN]
