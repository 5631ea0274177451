"""How an update rule runs: backends behind one small protocol, and the dispatch that picks one.

Read this first. An algorithm (:mod:`descend.optim.rule`) says *what* one step computes, as one function of
tensors. The engine decides *how*: one step of a parameter group goes through four stages.

1. **Collect** (:mod:`~descend.optim.engine.dispatch`): the parameters that have a gradient, their state
   (created on first use), cut into batches of the same device, dtype, state keys and step count.
2. **Check** (:mod:`~descend.optim.engine.checks`): every gradient and state tensor has its parameter's
   shape and device; a mismatch (a state dict loaded from another model, say) raises a ``RuntimeError``
   naming the sizes before anything is written. A backend then checks what it needs itself (the C kernel:
   dtype, contiguity, plain tensors) and hands back what it cannot take.
3. **Count** (:mod:`~descend.optim.engine.counters`): the step counters advance, and each batch gets the
   scalars of its step (``Optimizer.scalars``).
4. **Run**: the backend the dispatch chose updates the batch in place.

The seam is :class:`~descend.optim.engine.backend.Backend`, three members:

``name``
    what ``DESCEND_BACKEND`` and error messages call it;
``unavailable(device, dtype) -> str | None``
    why it cannot run here (no compiler, no Triton, another device), or None;
``run(batch) -> Batch | None``
    update a :class:`~descend.optim.engine.backend.Batch` in place and return the part it could not
    take (which the per-tensor loop then runs), or None.

A backend may also offer ``plan(opt, group, batch)``: a remembered step for a group it took whole, which
on later steps verifies only what can change (:mod:`~descend.optim.engine.c.plan`); and declare
``counts_on_device = True`` if it can take a batch whose step is counted on the device
(:class:`~descend.optim.engine.backend.OnDevice`: ``capturable=True``, ``fused=True`` on a GPU), computing
the step's scalars itself from the counters and hyperparameters where they live.

The compiled backends take element-wise rules: each output element a function of the same element of the
inputs, in the operations of :data:`~descend.optim.engine.graph.OPS` (one table, which every code
generator implements). A backend that declares ``reductions = True`` (the C kernel) also takes per-tensor
norms (:data:`~descend.optim.engine.graph.REDUCTIONS`). A rule that uses anything else (a matrix
product, a mean over rows) is reported by the tracer (:func:`~descend.optim.engine.graph.not_elementwise`)
and runs per tensor, whatever path was asked for, as does an algorithm whose state is not shaped like its
parameters.

The backends:

``loop`` (:mod:`~descend.optim.engine.loop`)
    the rule on each parameter in turn, in eager tensor arithmetic: the ground truth, and the path that
    supports ``differentiable=True`` and sparse gradients;
``foreach`` (:mod:`~descend.optim.engine.foreach`)
    the rule traced (:mod:`~descend.optim.engine.graph`) into a short program of in-place
    ``torch._foreach_*`` calls; bit-identical to the loop; the default without a C compiler, on CUDA
    without Triton, and wherever the kernels cannot go;
``c`` (:mod:`~descend.optim.engine.c`)
    the traced rule generated as one C loop over all tensors of a batch, compiled once and cached
    (privately, verified before loading); one pass over memory; the CPU default;
``triton`` (:mod:`~descend.optim.engine.triton`)
    the traced rule generated as one Triton kernel over all tensors of a batch, compiled by Triton's JIT
    into Triton's own cache; one pass over memory, one launch; the CUDA default and ``fused=True`` there,
    when Triton is installed (``pip install "descend[gpu]"``); counts steps on the device for
    ``capturable=True``; runs on CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``).

Adding a backend is one module that implements the protocol and one line in
:data:`~descend.optim.engine.dispatch.BACKENDS`. ``DESCEND_BACKEND=loop|foreach|c|triton`` forces one for
the default and ``fused=True`` paths; one that cannot run is an error, never a silent fallback.
"""

from descend.optim.engine.backend import Backend, Batch
from descend.optim.engine.dispatch import BACKENDS, choose, step_group

__all__ = ["BACKENDS", "Backend", "Batch", "choose", "step_group"]
