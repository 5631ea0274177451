"""Shared cases for the optimizer tests: configurations, parameter sets, a deterministic gradient driver."""

from __future__ import annotations

from collections.abc import Callable

import torch

from descend import optim

# (algorithm name, keyword arguments): every torch.optim argument of each algorithm takes part somewhere.
CONFIGS: list[tuple[str, dict]] = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.01, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-4, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.7, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "eps": 1e-3, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"eps": 1e-3, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.5, "amsgrad": True}),
]


def config_id(config: tuple[str, dict]) -> str:
    name, kwargs = config
    return name + ("-" + "-".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")


def make_params(
    dtype: torch.dtype = torch.float32, seed: int = 0, complex_: bool = False
) -> list[torch.Tensor]:
    """Mixed shapes, non-contiguous, zero-size and frozen parameters, and optionally a complex one."""
    gen = torch.Generator().manual_seed(seed)
    raw = [
        torch.randn(7, 5, generator=gen, dtype=dtype),
        torch.randn(6, 4, generator=gen, dtype=dtype).t(),  # non-contiguous
        torch.randn(3, generator=gen, dtype=dtype),
        torch.randn(0, 3, dtype=dtype),  # zero-size
        torch.randn(1, generator=gen, dtype=dtype),
    ]
    params = [t.clone().requires_grad_() if i != 1 else t.requires_grad_() for i, t in enumerate(raw)]
    params.append(torch.randn(2, 2, generator=gen, dtype=dtype))  # frozen: never gets a gradient
    if complex_:
        cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        params.append(torch.randn(4, 3, generator=gen, dtype=cdtype).requires_grad_())
    return params


def clone_params(params: list[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for p in params:
        q = torch.empty_strided(p.shape, p.stride(), dtype=p.dtype).copy_(p.detach())
        out.append(q.requires_grad_(p.requires_grad))
    return out


def set_grads(params: list[torch.Tensor], step: int) -> None:
    """A deterministic gradient of each parameter's own value; some parameters skip some steps."""
    for i, p in enumerate(params):
        if not p.requires_grad or (step + i) % 4 == 3:
            p.grad = None
            continue
        x = p.detach()
        bounded = x / (1 + x.abs())  # stays bounded under gradient ascent (maximize), complex too
        wave = torch.sin(x) if not x.is_complex() else bounded * (2 - bounded)
        g = wave * (1 + 0.3 * i) + 0.5 * bounded + 0.1 * (step + 1)
        p.grad = g if p.is_contiguous() else g.t().contiguous().t()


def run(
    make: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    params: list[torch.Tensor],
    steps: int,
    start: int = 0,
) -> torch.optim.Optimizer:
    opt = make(params)
    drive(opt, params, steps, start)
    return opt


def drive(opt: torch.optim.Optimizer, params: list[torch.Tensor], steps: int, start: int = 0) -> None:
    for t in range(start, start + steps):
        set_grads(params, t)
        opt.step()


def classes(name: str) -> tuple[type, type]:
    return getattr(optim, name), getattr(torch.optim, name)
