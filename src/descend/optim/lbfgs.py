"""L-BFGS: a quasi-Newton method that remembers the last few steps and gradient changes (full batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from descend import search
from descend.optim.engine.loop import real
from descend.optim.rule import nonnegative, value

LINE_SEARCHES = (None, "strong_wolfe")


def _number(loss: Any) -> float:
    return float(loss.detach() if isinstance(loss, Tensor) else loss)


def _max_abs(v: Tensor) -> Tensor:
    """max |v| = max(max v, -min v): one pass, without a vector |v| (a new vector costs a pass more)."""
    low, high = torch.aminmax(v)
    return torch.maximum(high, low.neg())


class _Loss(torch.autograd.Function):
    """f(z): the parameters set to the flat vector z, the closure's loss; its gradient is the closure's."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, opt: LBFGS, closure: Callable[[], Any]) -> Tensor:
        opt._set_flat(z)
        with torch.enable_grad():
            loss = _number(closure())
        ctx.save_for_backward(opt._flat_grad())
        return z.new_tensor(loss)

    @staticmethod
    def backward(ctx: Any, out: Tensor) -> tuple[Tensor, None, None]:
        (grad,) = ctx.saved_tensors
        return out * grad, None, None


class LBFGS(torch.optim.Optimizer):
    r"""Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4); a drop-in for :class:`torch.optim.LBFGS`.

    Each :meth:`step` runs up to ``max_iter`` iterations on the closure's objective:

    .. math::
        \begin{aligned}
        s_k &= x_{k+1} - x_k, \qquad y_k = g_{k+1} - g_k \quad (\text{kept while } y_k^\top s_k > 10^{-10},
            \text{ the last } m \text{ pairs}) \\
        d_k &= -H_k g_k \quad (\text{two-loop recursion, } H_k^0 = \tfrac{y^\top s}{y^\top y} I
            \text{ from the newest pair}) \\
        x_{k+1} &= x_k + t_k d_k
        \end{aligned}

    with :math:`t_k = \eta` (the first iteration :math:`\eta \min(1, 1/\|g_0\|_1)`), or, with
    ``line_search_fn="strong_wolfe"``, a step satisfying the strong Wolfe conditions
    (:math:`c_1 = 10^{-4}, c_2 = 0.9`; or the search's fallback when it runs out of trials or its bracket
    closes without one) found from that :math:`t_k` by :func:`descend.search.wolfe` under
    :data:`descend.search.TORCH_WOLFE`: cubic extrapolation and interpolation, minFunc's bracketing, a
    zoom that stops when its bracket is narrower than :math:`10^{-9}` in :math:`x`, and as many trials as
    ``max_eval`` leaves plus one. These are the rules of torch's own search, so the iterates and the counts
    ``func_evals`` and ``n_iter`` are torch's: in float64 to rounding. In float32 torch's search rounds its
    tests and interpolation to float32 where descend's works in float64, so the two agree to float32
    rounding at first and may drift apart on ill-conditioned problems. A trial where the loss is not finite
    is a step too long (torch's comparisons with NaN are false).
    Iterations stop when :math:`\|g\|_\infty \le` ``tolerance_grad``, when the step or the change of the
    loss falls below ``tolerance_change``, or after ``max_eval`` evaluations of the closure.

    ``step(closure)`` needs the closure: it clears the gradients, computes the loss, calls ``backward``
    and returns the loss. All parameters form one group, on one device, of one dtype.

    Args:
        params: parameters (a single group).
        lr: :math:`\eta` (default 1).
        max_iter: iterations per :meth:`step` (default 20).
        max_eval: evaluations of the closure per step (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when :math:`\|g\|_\infty` is at most this (default 1e-7).
        tolerance_change: stop when the step or the change of the loss is smaller (default 1e-9).
        history_size: the number :math:`m` of pairs kept (default 100).
        line_search_fn: ``None`` or ``"strong_wolfe"``.

    State (torch's layout, kept with the first parameter): ``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs`` (:math:`y`), ``old_stps`` (:math:`s`), ``ro`` (:math:`1/y^\top s`), ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``, ``al``.
    """

    #: ``step`` evaluates the objective itself, through its closure (descend.minimize gives it one).
    needs_closure: ClassVar[bool] = True
    #: It cannot run on the rows of a sweep: its state is one history for all parameters.
    sweepable: ClassVar[bool] = False

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError(f"Tensor lr must be 1-element; got a tensor with {lr.numel()} elements")
        nonnegative("lr", lr)
        for name, n in (("max_iter", max_iter), ("history_size", history_size)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"Invalid {name}: {n!r}; expected an integer >= 1")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if isinstance(max_eval, bool) or not isinstance(max_eval, int) or max_eval < 1:
            raise ValueError(f"Invalid max_eval: {max_eval!r}; expected an integer >= 1")
        for name, v in (("tolerance_grad", tolerance_grad), ("tolerance_change", tolerance_change)):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(f"Invalid {name}: {v!r}; expected a real number")
        if line_search_fn not in LINE_SEARCHES:
            raise ValueError(f"Invalid line_search_fn: {line_search_fn!r}; expected None or 'strong_wolfe'")
        defaults = dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn,
        )  # fmt: skip
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ---- the parameters as one flat vector --------------------------------------------------------------

    def _flat_grad(self) -> Tensor:
        """The gradients as one new vector (never a view of one: the closure may zero them in place)."""
        grads = [p.grad for p in self._params]
        # the common case in one call, which copies (it views a single tensor: that one goes to cat)
        if len(grads) > 1 and all(g is not None and not g.is_sparse and not g.is_complex() for g in grads):
            return _flatten_dense_tensors(grads)
        pieces = []
        for p, g in zip(self._params, grads, strict=True):
            if g is None:
                pieces.append(real(p).new_zeros(real(p).numel()))
            else:
                pieces.append(real(g.to_dense() if g.is_sparse else g).reshape(-1))
        return torch.cat(pieces)

    def _pieces(self, z: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The parameters (their real views) and the pieces of the flat vector ``z`` shaped like them."""
        reals = [real(p) for p in self._params]
        return reals, _unflatten_dense_tensors(z, reals)

    def _move(self, t: float, d: Tensor) -> None:
        """x ← x + t·d."""
        torch._foreach_add_(*self._pieces(d), alpha=t)

    def _set_flat(self, z: Tensor) -> None:
        torch._foreach_copy_(*self._pieces(z))

    def _flat(self) -> Tensor:
        return torch.cat([real(p).detach().reshape(-1) for p in self._params])

    # ---- the iteration ----------------------------------------------------------------------------------

    def _direction(self, state: dict[str, Any], g: Tensor, history_size: int) -> Tensor:
        """-H·g by the two-loop recursion, after adding the newest (s, y) pair to the history."""
        if state["n_iter"] == 1:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1)
            return g.neg()
        y = g.sub(state["prev_flat_grad"])
        s = state["d"].mul(state["t"])
        ys = y.dot(s)
        if ys > 1e-10:  # curvature condition: keep the pair (the oldest goes once history_size are kept)
            if len(state["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)
        ys_, ss, ro = state["old_dirs"], state["old_stps"], state["ro"]
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = g.neg()
        for i in reversed(range(len(ys_))):
            al[i] = ss[i].dot(q) * ro[i]
            q.add_(ys_[i], alpha=-al[i])
        r = q.mul_(state["H_diag"])
        for i in range(len(ys_)):
            beta = ys_[i].dot(r) * ro[i]
            r.add_(ss[i], alpha=al[i] - beta)
        return r

    def _wolfe(self, closure: Callable[[], Any], loss: float, g: Tensor, t: float, d: Tensor,
               max_ls: int) -> tuple[float, Tensor, float, int]:  # fmt: skip
        """A step along d by torch's strong-Wolfe rules: (loss, gradient, t, evaluations).

        ``max_ls`` trials after the first: what is left of ``max_eval``, so that, as torch's, a step may take
        one evaluation more than ``max_eval``.
        """
        x = self._flat()
        found = search.wolfe(lambda z: _Loss.apply(z, self, closure), x, d, alpha0=t, maxiter=max_ls + 1,
                             grad=g, fx=loss, **search.TORCH_WOLFE)  # fmt: skip
        self._set_flat(x)
        grad = found.extra.get("grad")  # absent only where the search refused to start (f(x) not finite)
        return found.fun, (g if grad is None else grad), found.x, found.nfev

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` iterations; return the closure's loss at the start."""
        if closure is None:  # torch's own LBFGS fails here with a TypeError (a missing argument) too
            raise TypeError(
                "LBFGS requires a closure: step(closure) re-evaluates the loss and its gradients several "
                "times per step, so a training loop that calls step() without one cannot use 'lbfgs'"
            )
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr = float(value(group["lr"]))
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss = closure()
        loss = _number(first_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if _max_abs(g) <= tol_grad:
            return first_loss
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            d = state["d"] = self._direction(state, g, group["history_size"])
            if state.get("prev_flat_grad") is None:
                state["prev_flat_grad"] = g.clone(memory_format=torch.contiguous_format)
            else:
                state["prev_flat_grad"].copy_(g)
            state["prev_loss"] = prev_loss = loss
            t = min(1.0, 1.0 / g.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = g.dot(d)
            searching = group["line_search_fn"] is not None and t > 0
            # no longer a descent direction; or, with a line search, the objective has diverged (a search
            # needs a finite direction): stop where the parameters are still finite
            if gtd > -tol_change or (searching and not bool(torch.isfinite(d).all())):
                state["t"] = t
                break
            if searching:
                loss, g, t, used = self._wolfe(closure, loss, g, float(t), d, max_eval - evals)
                self._move(t, d)
                done = bool(_max_abs(g) <= tol_grad)
            else:
                self._move(t, d)
                used, done = 0, False
                if n_iter != max_iter:  # the last iteration's loss is the next step's first evaluation
                    loss = _number(closure())
                    g = self._flat_grad()
                    used, done = 1, bool(_max_abs(g) <= tol_grad)
            state["t"] = t
            evals += used
            state["func_evals"] += used
            if n_iter == max_iter or evals >= max_eval or done:
                break
            # max |t·d| as t·max |d| (t >= 0): rounding is monotonic, so the same number, without a new vector
            if _max_abs(d) * t <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        return first_loss
