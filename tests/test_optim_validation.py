"""Bad arguments raise errors that name the argument and the value."""

from __future__ import annotations

import pytest
import torch

from descend import optim


def params():
    return [torch.zeros(2, requires_grad=True)]


BAD = [
    (optim.SGD, {"lr": -0.1}, ValueError, r"Invalid learning rate: -0\.1; expected lr >= 0"),
    (optim.SGD, {"lr": float("nan")}, ValueError, r"Invalid learning rate: nan"),
    (optim.SGD, {"momentum": -0.5}, ValueError, r"Invalid momentum value: -0\.5"),
    (optim.SGD, {"weight_decay": -1.0}, ValueError, r"Invalid weight_decay value: -1\.0"),
    (optim.SGD, {"dampening": 1.5}, ValueError, r"Invalid dampening: 1\.5"),
    (
        optim.SGD,
        {"nesterov": True},
        ValueError,
        r"Nesterov momentum requires a momentum and zero dampening; got mom",
    ),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, r"dampening=0\.1"),
    (
        optim.SGD,
        {"lr": torch.tensor([0.1, 0.2])},
        ValueError,
        r"Tensor lr must be 1-element; got a tensor with 2",
    ),
    (optim.SGD, {"lr": "0.1"}, TypeError, r"Invalid learning rate: '0\.1'; expected a real number"),
    (
        optim.Adam,
        {"betas": (1.0, 0.9)},
        ValueError,
        r"Invalid beta parameter at index 0: 1\.0; expected 0 <= beta",
    ),
    (optim.Adam, {"betas": (0.9, -0.1)}, ValueError, r"Invalid beta parameter at index 1: -0\.1"),
    (optim.Adam, {"betas": (0.9,)}, ValueError, r"Invalid betas: \(0\.9,\); expected a pair"),
    (optim.Adam, {"eps": -1e-8}, ValueError, r"Invalid epsilon value: -1e-08"),
    (optim.Adam, {"eps_root": -1.0}, ValueError, r"Invalid eps_root: -1\.0"),
    (optim.Adam, {"amsgrad": "yes"}, TypeError, r"Invalid amsgrad: 'yes'"),
    (optim.Adam, {"foreach": True, "fused": True}, RuntimeError, r"`fused` and `foreach` cannot be `True`"),
    (optim.AdamW, {"weight_decay": -0.01}, ValueError, r"Invalid weight_decay value: -0\.01"),
    (optim.Adagrad, {"lr_decay": -1.0}, ValueError, r"Invalid lr_decay value: -1\.0"),
    (optim.Adagrad, {"initial_accumulator_value": -1.0}, ValueError, r"Invalid initial_accumulator_value"),
    (optim.RMSprop, {"alpha": 1.5}, ValueError, r"Invalid alpha value: 1\.5; expected 0 <= alpha <= 1"),
    (optim.RMSprop, {"alpha": -0.1}, ValueError, r"Invalid alpha value: -0\.1"),
    (optim.RMSprop, {"momentum": -0.1}, ValueError, r"Invalid momentum value: -0\.1"),
    (optim.Adadelta, {"rho": 1.1}, ValueError, r"Invalid rho value: 1\.1; expected 0 <= rho <= 1"),
    (optim.Adadelta, {"lr": -1.0}, ValueError, r"Invalid learning rate: -1\.0"),
    (optim.Yogi, {"betas": (0.9, 1.0)}, ValueError, r"Invalid beta parameter at index 1: 1\.0"),
    (optim.Yogi, {"initial_accumulator_value": -1e-6}, ValueError, r"Invalid initial_accumulator_value"),
    (optim.Adam, {"foreach": "yes"}, TypeError, r"Invalid foreach: 'yes'"),
]


@pytest.mark.parametrize(("cls", "kwargs", "error", "message"), BAD, ids=[str(b[1]) for b in BAD])
def test_bad_hyperparameters(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(params(), **kwargs)


def test_bad_value_in_a_parameter_group_is_caught_too():
    with pytest.raises(ValueError, match=r"Invalid learning rate: -1"):
        optim.Adam([{"params": params(), "lr": -1}])
    with pytest.raises(RuntimeError, match=r"`fused` and `foreach` cannot be `True` together"):
        optim.Adam([{"params": params(), "foreach": True, "fused": True}])
    opt = optim.Adam(params())
    with pytest.raises(ValueError, match=r"Invalid beta parameter at index 0: 2"):
        opt.add_param_group({"params": params(), "betas": (2, 0.9)})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name", optim.names())
def test_params_must_be_an_iterable_of_tensors_not_a_tensor(name):
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.create(name, torch.zeros(3, requires_grad=True))


def test_empty_parameter_list_and_duplicates():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])


def test_unknown_short_name():
    with pytest.raises(ValueError, match=r"Invalid optimizer: 'adamaxx'; expected one of sgd"):
        optim.create("adamaxx", params())
