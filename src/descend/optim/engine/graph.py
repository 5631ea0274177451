"""An update rule traced into an expression graph: the one source of the compiled and multi-tensor backends.

An algorithm's rule (:mod:`descend.optim.rule`) is ordinary tensor arithmetic. Run once on symbolic values
(:class:`Node`) instead of tensors, it records that arithmetic as a :class:`Graph`: the operations, in the
order eager code performs them, with common subexpressions shared. The C backend turns the graph into a
loop (:mod:`descend.optim.engine.c`); the multi-tensor backend into a short program of in-place
``torch._foreach_*`` calls (:mod:`descend.optim.engine.foreach`).

A graph is specialised on the step's scalars the way eager code is: a scalar that is zero (no weight decay,
no momentum) is traced as the number 0, so the rule's branch for it drops out; booleans and other
non-numeric options are passed as they are; every other number becomes a symbolic argument, so a new
learning rate needs no new graph. :func:`specialization` is that pattern, the key under which a traced
graph (and what is built from it) can be reused.

A rule may also reduce each tensor to a number: ``torch.linalg.vector_norm(x)`` of a whole tensor and
``x.numel()`` are *per-tensor* values (:data:`REDUCTIONS`; numbers that differ from tensor to tensor, as the
step's scalars do not), and arithmetic on them stays per tensor (Adafactor's relative step size and update
clipping, LAMB's trust ratio). Only backends that say so take them (the C kernel: a pass over the elements
for each level of reduction, then the update); for the others such a rule is not element-wise. A rule may
read ``x.dtype`` where the trace is made for one dtype (:func:`trace`'s ``dtype``).

A kernel that counts the step on the device traces more: :func:`trace_from_hyperparameters` runs the
algorithm's ``scalars(group, step)`` on symbolic hyperparameters and a symbolic step too, so the graph
computes the bias corrections from each tensor's counter. Numbers may be raised to powers (``β^t``); the
operations numbers only take are :data:`NUMBERS_ONLY`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace as Scalars
from typing import Any

import torch
from torch import Tensor

#: The element-wise operations a rule may use, with their number of operands. Every backend that compiles a
#: traced rule implements each of them (:mod:`~descend.optim.engine.foreach`, :mod:`~descend.optim.engine.c`).
OPS: dict[str, int] = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "abs": 1, "sqrt": 1, "sign": 1,
    "maximum": 2, "minimum": 2, "lerp": 3, "where": 3,
    "gt": 2, "lt": 2, "ge": 2, "le": 2, "eq": 2, "ne": 2,
}  # fmt: skip
#: Comparisons: their results are truth values, which only ``where`` may take (as its condition).
COMPARISONS = frozenset({"gt", "lt", "ge", "le", "eq", "ne"})
#: Per-tensor values a rule may take of a tensor: the 2-norm of all its elements, its number of elements.
REDUCTIONS = frozenset({"norm", "numel"})


class NotElementwise(Exception):
    """A traced rule used an operation that is not element by element (a norm, a matrix product, ...).

    Such a rule runs per tensor on the loop (:mod:`~descend.optim.engine.loop`) on every path.
    """


class Node:
    """One value in the traced update: an input element, a scalar argument, a constant or an operation.

    It offers the tensor arithmetic of :data:`OPS` (operators, methods, and ``torch.where``,
    ``torch.maximum``, ... through ``__torch_function__``). Anything else a rule asks of it, a reduction
    or a matrix product, raises :class:`NotElementwise`.
    """

    __slots__ = ("args", "graph", "key", "op", "per_tensor", "scalar")
    __hash__ = object.__hash__  # == builds a comparison node, so identity is the hash

    def __init__(self, graph: Graph, op: str, args: tuple, scalar: bool, per_tensor: bool = False) -> None:
        # scalar: a number, not an element; per_tensor: a number that differs from tensor to tensor
        self.graph, self.op, self.args, self.scalar, self.per_tensor = graph, op, args, scalar, per_tensor
        self.key = (op, *(a.key if isinstance(a, Node) else a for a in args))

    # arithmetic, as the rules use it
    def __add__(self, o: Any) -> Node:
        return self.graph.apply("add", self, o)

    def __radd__(self, o: Any) -> Node:
        return self.graph.apply("add", o, self)

    def __sub__(self, o: Any) -> Node:
        return self.graph.apply("sub", self, o)

    def __rsub__(self, o: Any) -> Node:
        return self.graph.apply("sub", o, self)

    def __mul__(self, o: Any) -> Node:
        return self.graph.apply("mul", self, o)

    def __rmul__(self, o: Any) -> Node:
        return self.graph.apply("mul", o, self)

    def __truediv__(self, o: Any) -> Node:
        return self.graph.apply("div", self, o)

    def __rtruediv__(self, o: Any) -> Node:
        return self.graph.apply("div", o, self)

    def __neg__(self) -> Node:
        return self.graph.apply("neg", self)

    def __pow__(self, o: Any) -> Node:
        return self.graph.apply("pow", self, o)

    def __rpow__(self, o: Any) -> Node:
        return self.graph.apply("pow", o, self)

    def __abs__(self) -> Node:
        return self.graph.apply("abs", self)

    def __gt__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("gt", self, o)

    def __lt__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("lt", self, o)

    def __ge__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("ge", self, o)

    def __le__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("le", self, o)

    def __eq__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("eq", self, o)

    def __ne__(self, o: Any) -> Node:  # type: ignore[override]
        return self.graph.apply("ne", self, o)

    def __bool__(self) -> bool:
        raise TypeError(
            "an update rule cannot branch on a tensor's values (it is traced once for all of them); "
            "use torch.where"
        )

    def __float__(self) -> float:
        raise NotElementwise("a number read out of a tensor (float(), int(), .item())")

    __int__ = __index__ = __float__

    def __matmul__(self, o: Any) -> Node:
        raise NotElementwise("a matrix product")

    __rmatmul__ = __matmul__

    def __and__(self, o: Any) -> Node:
        raise NotElementwise("a logical operator (&, |, ~, ^)")

    __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __invert__ = __and__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotElementwise(f"Tensor.{name}")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        op = _TORCH_FUNCTIONS.get(func)
        if op is None:
            raise NotElementwise(getattr(func, "__name__", repr(func)))
        return op(*args, **(kwargs or {}))

    def abs(self) -> Node:
        return self.graph.apply("abs", self)

    def numel(self) -> Node:
        """The tensor's number of elements: a per-tensor value."""
        return self.graph.node("numel", (), True, per_tensor=True)

    @property
    def dtype(self) -> torch.dtype:
        if self.graph.dtype is None:
            raise NotElementwise("Tensor.dtype (a trace made for no one dtype)")
        return self.graph.dtype

    def sqrt(self) -> Node:
        return self.graph.apply("sqrt", self)

    def sign(self) -> Node:
        return self.graph.apply("sign", self)

    def maximum(self, o: Node) -> Node:
        return self.graph.apply("maximum", self, o)

    def minimum(self, o: Node) -> Node:
        return self.graph.apply("minimum", self, o)

    def clamp(self, min: Any = None, max: Any = None) -> Node:
        """``torch.clamp``: max(x, min) then min(·, max), which is what torch computes, NaN included."""
        out = self if min is None else self.graph.apply("maximum", self, min)
        return out if max is None else self.graph.apply("minimum", out, max)

    def lerp(self, end: Node, weight: Any) -> Node:
        return self.graph.apply("lerp", self, end, weight)

    def clone(self) -> Node:
        return self

    def gt(self, o: Any) -> Node:
        return self.graph.apply("gt", self, o)

    def lt(self, o: Any) -> Node:
        return self.graph.apply("lt", self, o)

    def ge(self, o: Any) -> Node:
        return self.graph.apply("ge", self, o)

    def le(self, o: Any) -> Node:
        return self.graph.apply("le", self, o)

    def eq(self, o: Any) -> Node:
        return self.graph.apply("eq", self, o)

    def ne(self, o: Any) -> Node:
        return self.graph.apply("ne", self, o)


def _where(condition: Node, input: Any, other: Any) -> Node:
    return condition.graph.apply("where", condition, input, other)


def _graph_of(*args: Any) -> Graph:
    return next(a.graph for a in args if isinstance(a, Node))


def _vector_norm(x: Node, ord: float = 2, dim: Any = None, keepdim: bool = False, *,
                 dtype: Any = None) -> Node:  # fmt: skip
    if ord != 2 or dim is not None or keepdim or dtype is not None:
        raise NotElementwise("torch.linalg.vector_norm other than the 2-norm of a whole tensor")
    if x.scalar:
        raise TypeError("the norm in an update rule is of a tensor, not of a number")
    return x.graph.node("norm", (x,), True, per_tensor=True)


_TORCH_FUNCTIONS: dict[Any, Any] = {
    torch.where: _where,
    torch.maximum: lambda a, b: _graph_of(a, b).apply("maximum", a, b),
    torch.minimum: lambda a, b: _graph_of(a, b).apply("minimum", a, b),
    torch.abs: lambda a: a.abs(),
    torch.sqrt: lambda a: a.sqrt(),
    torch.sign: lambda a: a.sign(),
    torch.lerp: lambda a, b, w: _graph_of(a, b, w).apply("lerp", a, b, w),
    torch.clamp: lambda a, min=None, max=None: a.clamp(min, max),
    torch.linalg.vector_norm: _vector_norm,
}


class Graph:
    """The expression graph of one traced update, with common subexpressions shared."""

    def __init__(self, dtype: torch.dtype | None = None) -> None:
        self.nodes: dict[tuple, Node] = {}
        self.order: list[Node] = []
        self.dtype = dtype

    def node(self, op: str, args: tuple, scalar: bool, per_tensor: bool = False) -> Node:
        n = Node(self, op, args, scalar, per_tensor)
        if n.key not in self.nodes:
            self.nodes[n.key] = n
            self.order.append(n)
        return self.nodes[n.key]

    def lift(self, x: Any) -> Node:
        if isinstance(x, Node):
            return x
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise TypeError(f"the fused path cannot trace a value of type {type(x).__name__}: {x!r}")
        return self.node("const", (float(x),), scalar=True)

    def apply(self, op: str, *args: Any) -> Node | float:
        lifted = tuple(self.lift(a) for a in args)
        for i, a in enumerate(lifted):
            if a.op in COMPARISONS and not (op == "where" and i == 0):
                raise TypeError(
                    f"a comparison ({a.op}) can only be the condition of torch.where, not an operand of {op}"
                )
        if op == "where" and lifted[0].op not in COMPARISONS:
            raise TypeError("the condition of torch.where in an update rule must be a comparison")
        scalar = all(a.scalar for a in lifted)
        if scalar and op == "mul" and any(isinstance(a, int | float) and a == 0 for a in args):
            return 0.0  # a zero hyperparameter times a number is zero, so the rule drops its term, as eagerly
        if op in NUMBERS_ONLY and not scalar:
            raise TypeError(f"the fused path computes {op} of numbers only (the step's scalars), not tensors")
        return self.node(op, lifted, scalar, per_tensor=scalar and any(a.per_tensor for a in lifted))


#: Operations a traced rule may apply to numbers (its scalars, such as ``β^t``) but not to tensors.
NUMBERS_ONLY = frozenset({"pow"})


@dataclass(frozen=True)
class Traced:
    """One rule traced for one set of state keys and pattern of scalars.

    ``inputs`` are the parameter, the gradient and the state the rule reads (in ``keys`` order);
    ``outputs`` are aligned with them, then extended by the state the rule creates (``new_keys``): the new
    parameter, ``None`` for the gradient (never written), the new value of each state key (``None``: left
    alone), then the created state. ``scalar_names[i]`` is the field of the scalars behind argument ``i``.
    """

    graph: Graph
    keys: tuple[str, ...]
    inputs: tuple[Node, ...]
    outputs: tuple[Node | None, ...]
    scalar_names: tuple[str, ...]
    new_keys: tuple[str, ...]

    @property
    def reduces(self) -> str | None:
        """What per-tensor values the rule takes (see :data:`REDUCTIONS`), in words; None if none."""
        used = sorted({n.op for n in self.graph.order if n.op in REDUCTIONS})
        names = {"norm": "torch.linalg.vector_norm", "numel": "Tensor.numel"}
        return ", ".join(names[op] for op in used) or None


def symbolic(v: Any) -> bool:
    """Whether a scalar is traced as an argument: a nonzero number (booleans and zeros are specialised on)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and v != 0


def specialization(rule: Callable, h: Scalars, keys: tuple[str, ...], maximize: bool) -> tuple:
    """What a trace of ``rule`` depends on: equal keys, equal graphs."""
    pattern = tuple((k, symbolic(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
                    for k, v in vars(h).items())  # fmt: skip
    return (rule, pattern, keys, maximize)


def trace(rule: Callable, h: Scalars, keys: tuple[str, ...], maximize: bool,
          dtype: torch.dtype | None = None) -> Traced:  # fmt: skip
    """Run ``rule`` on symbolic values and return its graph, inputs and outputs.

    ``dtype``: the dtype of the tensors the trace is for, if one (what ``x.dtype`` gives the rule).
    """
    graph = Graph(dtype)
    p, g = graph.node("input", ("p",), False), graph.node("input", ("g",), False)
    state = {k: graph.node("input", (k,), False) for k in keys}
    names = tuple(k for k, v in vars(h).items() if symbolic(v))
    traced = Scalars(**{
        k: graph.node("scalar", (names.index(k),), True) if k in names else v for k, v in vars(h).items()
    })  # fmt: skip
    new_p, new_state = rule(p, -g if maximize else g, state, traced)
    new_keys = tuple(k for k in new_state if k not in state)
    outputs = (new_p, None, *(new_state.get(k) for k in keys), *(new_state[k] for k in new_keys))
    return Traced(graph, keys, (p, g, *state.values()), outputs, names, new_keys)


class _Arguments(Mapping):
    """A parameter group's hyperparameters as a traced ``scalars(group, step)`` reads them.

    A nonzero number or a tensor becomes a scalar argument on first use (a zero is specialised on, as in
    :func:`trace`); a tuple (``betas``) is read element by element; anything else is passed as it is.
    """

    def __init__(self, graph: Graph, hyper: Mapping[str, Any], paths: list[tuple[str, int | None]]) -> None:
        self.graph, self.hyper, self.paths = graph, hyper, paths
        self.read: dict[str, Any] = {}

    def _argument(self, key: str, index: int | None, v: Any) -> Any:
        if not (symbolic(v) or isinstance(v, Tensor)):
            return v
        self.paths.append((key, index))
        return self.graph.node("scalar", (len(self.paths) - 1,), True)

    def __getitem__(self, key: str) -> Any:
        if key not in self.read:
            v = self.hyper[key]
            self.read[key] = (
                tuple(self._argument(key, i, x) for i, x in enumerate(v)) if isinstance(v, tuple)
                else self._argument(key, None, v)
            )  # fmt: skip
        return self.read[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.hyper)

    def __len__(self) -> int:
        return len(self.hyper)


def trace_from_hyperparameters(
    rule: Callable, scalars: Callable, hyper: Mapping[str, Any], keys: tuple[str, ...], maximize: bool,
    counted: bool, unscaled: bool,
) -> tuple[Traced, tuple[tuple[str, int | None], ...]]:  # fmt: skip
    """The rule traced together with its scalars, for a kernel that computes them itself.

    ``scalars(hyper, step)`` runs on symbolic hyperparameters (:class:`_Arguments`) and, if ``counted``, a
    symbolic step (the ``step`` node: each tensor's own counter, read where the kernel runs); with
    ``unscaled`` the gradient is first divided by a ``grad_scale`` argument. Returns the trace and, for each
    scalar argument, where it comes from: ``(key, index)`` into ``hyper`` (index into a tuple, or None), or
    ``("grad_scale", None)``.
    """
    graph = Graph()
    paths: list[tuple[str, int | None]] = []
    p, g = graph.node("input", ("p",), False), graph.node("input", ("g",), False)
    state = {k: graph.node("input", (k,), False) for k in keys}
    step = graph.node("step", (), True) if counted else 0
    h = scalars(_Arguments(graph, hyper, paths), step)
    grad = -g if maximize else g
    if unscaled:
        paths.append(("grad_scale", None))
        grad = grad / graph.node("scalar", (len(paths) - 1,), True)
    new_p, new_state = rule(p, grad, state, h)
    new_keys = tuple(k for k in new_state if k not in state)
    outputs = (new_p, None, *(new_state.get(k) for k in keys), *(new_state[k] for k in new_keys))
    names = tuple(key if i is None else f"{key}[{i}]" for key, i in paths)
    return Traced(graph, keys, (p, g, *state.values()), outputs, names, new_keys), tuple(paths)


_TRACES: dict[tuple, Traced | NotElementwise] = {}
_LOCK = threading.Lock()


def traced(rule: Callable, h: Scalars, keys: tuple[str, ...], maximize: bool,
           dtype: torch.dtype | None = None) -> Traced:  # fmt: skip
    """:func:`trace`, once per :func:`specialization` and dtype; raises :class:`NotElementwise` (remembered
    too)."""
    key = (*specialization(rule, h, keys, maximize), dtype)
    with _LOCK:
        found = _TRACES.get(key)
        if found is None:
            try:
                found = trace(rule, h, keys, maximize, dtype)
            except NotElementwise as e:
                found = e
            _TRACES[key] = found
    if isinstance(found, NotElementwise):
        raise found
    return found


def not_elementwise(rule: Callable, h: Scalars, keys: tuple[str, ...], maximize: bool,
                    dtype: torch.dtype | None = None, reductions: bool = False) -> str | None:  # fmt: skip
    """Why ``rule`` is not element by element for this configuration (what it used), or None if it is.

    With ``reductions``, per-tensor values (:data:`REDUCTIONS`) count as element by element: the backend
    asking computes them.
    """
    try:
        found = traced(rule, h, keys, maximize, dtype)
    except NotElementwise as e:
        return str(e)
    return None if reductions else found.reduces
