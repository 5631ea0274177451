"""Property tests over random shapes, dtypes and hyperparameters."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descend import optim

ALGORITHMS = {
    "SGD": lambda d: {
        "lr": d.draw(st.floats(0.0, 1.0)), "momentum": d.draw(st.sampled_from([0.0, 0.5, 0.9])),
        "nesterov": False, "weight_decay": d.draw(st.sampled_from([0.0, 0.1])),
    },
    "Adagrad": lambda d: {"lr": d.draw(st.floats(1e-3, 1.0)), "lr_decay": d.draw(st.floats(0.0, 0.5))},
    "RMSprop": lambda d: {
        "lr": d.draw(st.floats(1e-4, 0.1)), "alpha": d.draw(st.floats(0.5, 0.999)),
        "centered": d.draw(st.booleans()), "momentum": d.draw(st.sampled_from([0.0, 0.9])),
    },
    "Adadelta": lambda d: {"rho": d.draw(st.floats(0.5, 0.99)), "eps": d.draw(st.floats(1e-8, 1e-3))},
    "Adam": lambda d: {
        "lr": d.draw(st.floats(1e-4, 0.1)),
        "betas": (d.draw(st.floats(0.0, 0.99)), d.draw(st.floats(0.5, 0.9999))),
        "amsgrad": d.draw(st.booleans()), "eps_root": d.draw(st.sampled_from([0.0, 1e-8])),
    },
    "AdamW": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)), "weight_decay": d.draw(st.floats(0.0, 0.5))},
    "Yogi": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)), "eps": d.draw(st.floats(1e-6, 1e-2))},
    "NAdam": lambda d: {
        "lr": d.draw(st.floats(1e-4, 0.1)), "momentum_decay": d.draw(st.floats(0.0, 0.01)),
        "decoupled_weight_decay": d.draw(st.booleans()), "weight_decay": d.draw(st.sampled_from([0.0, 0.1])),
    },
    "RAdam": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)), "betas": (0.9, d.draw(st.floats(0.5, 0.999)))},
    "Adamax": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)), "eps": d.draw(st.floats(1e-8, 1e-3))},
    "Rprop": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)), "etas": (d.draw(st.floats(0.1, 0.9)), 1.5)},
    "ASGD": lambda d: {
        "lr": d.draw(st.floats(1e-4, 0.1)), "t0": d.draw(st.sampled_from([0.0, 2.0, 1e6])),
        "lambd": d.draw(st.sampled_from([0.0, 1e-2])),
    },
    "Lion": lambda d: {"lr": d.draw(st.floats(1e-5, 0.01)),
                       "weight_decay": d.draw(st.sampled_from([0, 0.1]))},
    "Adan": lambda d: {
        "lr": d.draw(st.floats(1e-4, 0.1)), "no_prox": d.draw(st.booleans()),
        "weight_decay": d.draw(st.sampled_from([0.0, 0.02])),
    },
    "ScheduleFreeAdamW": lambda d: {"lr": d.draw(st.floats(1e-4, 0.1)),
                                    "warmup_steps": d.draw(st.integers(0, 3))},
    "ScheduleFreeSGD": lambda d: {"lr": d.draw(st.floats(1e-4, 1.0)),
                                  "momentum": d.draw(st.floats(0.1, 0.9))},
}  # fmt: skip

names = st.sampled_from(sorted(ALGORITHMS))
dtypes = st.sampled_from([torch.float32, torch.float64])
shapes = st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=3), min_size=1, max_size=4)


def tensors(data, dtype, shape_list, scale=1.0):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1)))
    return [scale * torch.randn(tuple(shape), generator=gen, dtype=dtype) for shape in shape_list]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=names, dtype=dtypes, shape_list=shapes)
def test_paths_agree_and_stay_finite(data, name, dtype, shape_list):
    kwargs = ALGORITHMS[name](data)
    cls = getattr(optim, name)
    start = tensors(data, dtype, shape_list)
    a = [t.clone().requires_grad_() for t in start]
    b = [t.clone().requires_grad_() for t in start]
    oa, ob = cls(a, foreach=False, **kwargs), cls(b, foreach=True, **kwargs)
    for step in range(4):
        grads = tensors(data, dtype, shape_list, scale=10.0 ** data.draw(st.integers(-3, 2)))
        for params, opt in ((a, oa), (b, ob)):
            for p, g in zip(params, grads, strict=True):
                p.grad = None if (step + p.numel()) % 5 == 4 else g.clone()
            opt.step()
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)
        assert torch.isfinite(p).all()


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=names, dtype=dtypes, shape_list=shapes)
def test_zero_gradients_leave_parameters_unchanged(data, name, dtype, shape_list):
    kwargs = ALGORITHMS[name](data)
    if "weight_decay" in getattr(optim, name).__init__.__code__.co_varnames:
        kwargs["weight_decay"] = 0.0
    if name == "ASGD":
        kwargs["lambd"] = 0.0  # its decay term shrinks the parameters whatever the gradient
    start = tensors(data, dtype, shape_list)
    params = [t.clone().requires_grad_() for t in start]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        for p in params:
            p.grad = torch.zeros_like(p)
        opt.step()
    for p, t in zip(params, start, strict=True):
        assert torch.equal(p, t)
