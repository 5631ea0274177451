"""A tour of the optimization chapter in figures: every figure regenerated, captioned, on one HTML page.

The tour is a list of :class:`Section` objects, in the chapter's order (the optimization-intro and convexity
sections, gradient descent, SGD, momentum, AdaGrad, RMSProp, Adadelta, Adam and Yogi, learning-rate
scheduling; :mod:`descend.lab.tour_basics` and :mod:`descend.lab.tour_methods` hold them). Each section's
``build()`` runs the experiment behind its figure with :mod:`descend`'s own pieces
(:func:`descend.minimize`, :func:`descend.sweep`, :mod:`descend.schedules`, :mod:`descend.analysis`) and
draws it with :mod:`descend.plot`; it returns a :class:`~descend.lab.study.Panel`: the figure, a caption
saying what it shows and what to notice (with the numbers of the run written into it), and the numbers
behind the figure (``data``) so that they can be checked.

:func:`study` gathers the sections into a :class:`~descend.lab.study.Study`; :func:`run` writes it as one
self-contained HTML page (figures embedded as data URIs, no scripts, no external resources) and the
figures as image files beside it, every file atomically:

.. code-block:: text

    OUT/tour.html
    OUT/tour.md
    OUT/figures/01-local-global-minimum.png   (or .svg)
    ...

The chapter's settings, where they differ from a library default: AdaGrad and RMSProp add ε inside the
square root (``eps=0, eps_root=1e-6``), Adadelta uses ρ = 0.9 and ε = 1e-5, Adam ε = 1e-6, Yogi ε = 1e-3.
The chapter runs Adam and Yogi on the airfoil data with η = 0.01; on the quadratic of the path figures
they take η = 0.4, AdaGrad's and RMSProp's rate there, so that the paths compare. The noisy-SGD figures
follow the SGD section: η = 0.1, N(0, 1) noise on each gradient coordinate, 50 steps with the constant and
the polynomial rate and 1000 with the exponential one.

>>> from descend.lab import tour
>>> [s.name for s in tour.sections()][:3]
['local-global-minimum', 'saddle-1d', 'saddle-2d']
>>> panel = tour.get("gd-1d").build()
>>> [round(v, 4) for v in panel.data["paths"]["η = 0.2"][:3, 0].tolist()]
[10.0, 6.0, 3.6]
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from descend.checks import choice, integer, unknown
from descend.files import claim_folder
from descend.lab.study import Panel, Study
from descend.lab.tour_basics import (
    convexity,
    gd_ill_conditioned,
    gd_learning_rates,
    gd_local_minimum,
    gd_overshoot,
    local_global_minimum,
    newton_cosh,
    newton_nonconvex,
    saddle_1d,
    saddle_2d,
    vanishing_gradient,
)
from descend.lab.tour_methods import (
    adadelta_adam_yogi,
    adagrad_rmsprop,
    momentum_paths,
    momentum_weights,
    rmsprop_weights,
    schedules_cosine,
    schedules_decay,
    sgd_constant,
    sgd_exponential,
    sgd_polynomial,
    sweep_map,
)

__all__ = ["FORMATS", "Section", "TourResult", "get", "run", "sections", "study"]

#: Image formats the tour writes.
FORMATS = ("png", "svg")
_TITLE = "Optimization algorithms: the chapter's figures"


@dataclass(frozen=True)
class Section:
    """A figure of the chapter: a file-safe ``name``, a heading, and how to build it."""

    name: str
    title: str
    chapter: str
    build: Callable[[], Panel]


@dataclass
class TourResult:
    """What :func:`run` wrote: the page, the figure files by section name, and the time it took."""

    page: Path
    figures: dict[str, Path]
    seconds: float
    format: str

    def summary(self) -> str:
        return f"tour: {len(self.figures)} figures ({self.format}) in {self.seconds:.1f} s; page {self.page}"


_INTRO, _GD, _SGD = "Optimization and deep learning", "Gradient descent", "Stochastic gradient descent"
_SECTIONS = (
    Section("local-global-minimum", "Local and global minima", _INTRO,
            local_global_minimum),
    Section("saddle-1d", "A saddle point in 1-D", _INTRO, saddle_1d),
    Section("saddle-2d", "A saddle point in 2-D", _INTRO, saddle_2d),
    Section("vanishing-gradient", "Vanishing gradients", _INTRO, vanishing_gradient),
    Section("convexity", "Convex and nonconvex functions", "Convexity", convexity),
    Section("gd-1d", "Gradient descent: learning rate and speed", _GD, gd_learning_rates),
    Section("gd-overshoot", "Gradient descent with too large a learning rate", _GD, gd_overshoot),
    Section("gd-local-minimum", "Gradient descent caught in a local minimum", _GD,
            gd_local_minimum),
    Section("gd-ill-conditioned", "Gradient descent on an ill-conditioned quadratic", _GD,
            gd_ill_conditioned),
    Section("newton-cosh", "Newton's method on a convex function", _GD, newton_cosh),
    Section("newton-nonconvex", "Newton's method on a nonconvex function", _GD,
            newton_nonconvex),
    Section("sgd-constant", "SGD with a constant learning rate", _SGD, sgd_constant),
    Section("sgd-exponential", "SGD with an exponentially decaying learning rate", _SGD,
            sgd_exponential),
    Section("sgd-polynomial", "SGD with a polynomially decaying learning rate", _SGD,
            sgd_polynomial),
    Section("momentum", "Momentum on the ill-conditioned quadratic", "Momentum", momentum_paths),
    Section("momentum-weights", "Momentum's weights on past gradients", "Momentum", momentum_weights),
    Section("sweep-map", "Where heavy ball converges: measurement and theory", "Momentum", sweep_map),
    Section("adagrad-rmsprop", "AdaGrad and RMSProp", "AdaGrad and RMSProp", adagrad_rmsprop),
    Section("rmsprop-weights", "RMSProp's weights on past squared gradients", "RMSProp", rmsprop_weights),
    Section("adadelta-adam-yogi", "Adadelta, Adam and Yogi", "Adadelta, Adam and Yogi", adadelta_adam_yogi),
    Section("schedules-decay", "Factor, multi-factor and square-root schedules", "Learning-rate scheduling",
            schedules_decay),
    Section("schedules-cosine", "Cosine schedule and warmup", "Learning-rate scheduling", schedules_cosine),
)  # fmt: skip


def sections() -> list[Section]:
    """The tour's sections, in the chapter's order."""
    return list(_SECTIONS)


def get(name: str) -> Section:
    """The section called ``name``."""
    for s in _SECTIONS:
        if s.name == name:
            return s
    raise unknown("section", name, [s.name for s in _SECTIONS])


def study(only: Sequence[str] | None = None, *, progress: bool = False) -> Study:
    """Build the sections (``only`` these, in the tour's order) into a :class:`Study`: one panel each, under
    its own heading, its file named ``NN-<name>`` by its place in the tour."""
    wanted = None if only is None else {get(n).name for n in only}
    chosen = [(k, s) for k, s in enumerate(_SECTIONS, start=1) if wanted is None or s.name in wanted]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # disable=None: the bar shows on a terminal and stays silent when output is redirected
        bar = tqdm(total=len(chosen), desc="tour", unit="figure", disable=None, leave=False)
    panels = []
    try:
        for number, s in chosen:
            if bar is not None:
                bar.set_postfix_str(s.name)
            panel = s.build()
            title = f"{s.title} ({s.chapter})"
            panels.append(
                dataclasses.replace(panel, name=f"{number:02d}-{s.name}", title=title, anchor=s.name)
            )
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    desc = (
        "The chapter's figures, regenerated by descend tour: the runs behind them use descend's optimizers, "
        "minimizers, sweeps and schedules. The caption under each figure says what it shows and what to "
        "notice."
    )
    return Study("tour", _TITLE, desc, panels=panels)


def run(
    out: str | os.PathLike[str] = "descend-tour",
    *,
    format: str = "png",
    dpi: int = 110,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> TourResult:
    """Build the sections; write ``out/tour.html`` (and ``tour.md``) and ``out/figures/NN-<name>.<format>``.

    Args:
        out: the folder (see :func:`descend.files.claim_folder`: created if missing; the files of an earlier
            tour there are replaced, a folder holding other files is refused).
        format: ``"png"`` or ``"svg"``; the page embeds the same bytes as the files.
        dpi: resolution of PNG figures.
        progress: a progress bar over the sections (on a terminal only).
        only: build just these sections (names), in the tour's order.

    Returns:
        :class:`TourResult` with the page's path and the figure files.
    """
    choice("format", format, FORMATS)
    dpi = integer("dpi", dpi, minimum=10)
    for name in only or ():
        get(name)
    root = claim_folder(out, "descend-tour", what="out")
    began = time.perf_counter()
    built = study(only, progress=progress)
    written = built.write(root, stem="tour", format=format, dpi=dpi)
    figures = {p.anchor: written[p.name] for p in built.panels}
    return TourResult(written["html"], figures, time.perf_counter() - began, format)
