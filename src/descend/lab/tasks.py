"""What ``descend compare`` trains: the tasks (data, model, loss, defaults) and the optimizers' default
hyperparameters on each.

Tasks (all but ``airfoil`` need no file and no network):

==============  ======================================================  =====  ======  ===============
task            model and data                                          batch  epochs  loss
==============  ======================================================  =====  ======  ===============
``digits-cnn``  LeNet (3×3 convolutions) on the 8×8 digits (1438 / 359)  64     12      cross-entropy
``digits-mlp``  MLP 64-128-10 (ReLU) on the same digits                 64     10      cross-entropy
``diabetes``    linear regression on the diabetes table (353 / 89)      32     30      mean (ŷ − y)²/2
``airfoil``     the chapter's linear regression on the airfoil table    10     2       mean (ŷ − y)²/2
                (evaluated every 200 examples, as the chapter does)
``fashion-      MLP 784-128-10 on Fashion-MNIST (6000 / 1000 images)    64     4       cross-entropy
mnist-mlp``
``fashion-      LeNet (5×5 convolutions) on Fashion-MNIST               64     3       cross-entropy
mnist-cnn``
``text-chars``  next character from 16 (embedding, tanh layer) on the   64     4       cross-entropy
                descriptions of scikit-learn's data sets (~12k / 3k)
==============  ======================================================  =====  ======  ===============

On ``text-chars`` the test windows come from the end of the text, but the validation split is a random
draw of training windows, which overlap their neighbours: its validation numbers are optimistic against the
test numbers (the same for every optimizer, so the tuning stays fair).

The Fashion-MNIST tasks read the four IDX files (plain or gzip) from ``--data DIR`` or from
``$DESCEND_CACHE/fashion-mnist``; they never download (a missing file is an error that says where to put
it).

Each task declares its validation target (:class:`~descend.lab.ranking.Target`): the accuracy (or loss)
that a well-tuned optimizer reaches within the task's epochs, which times to target are measured against.

Default learning rates (:data:`DEFAULT_LR`): for ``airfoil`` the chapter's own (12.5-12.10: SGD 0.05,
momentum and Nesterov 0.005 with β = 0.9, AdaGrad 0.1, RMSProp 0.01, Adadelta 1 (it has no learning
rate; torch's lr = 1 is the chapter's algorithm), Adam, AdamW and Yogi 0.01). For the other tasks, the
best final test loss (median of seeds 0 and 1) over the grid {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1} at
the task's default epochs and batch size, as measured by ``benchmarks/compare_lr_grid.py`` (the grids are
in ``benchmarks/RESULTS.md``; amsgrad takes Adam's). Every other hyperparameter is torch's default
(momentum and Nesterov: β = 0.9; AdamW: weight decay 0.01), except on ``airfoil``, which takes the
chapter's (:data:`DEFAULT_OPTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from descend import data as data_module
from descend.data import Dataset
from descend.lab.models import char_mlp, lenet, linear, mlp
from descend.lab.ranking import Target
from descend.train import squared_loss

__all__ = ["DEFAULT_LR", "DEFAULT_OPTIMIZERS", "DEFAULT_OPTIONS", "TASKS", "Task"]

#: The chapter's optimizers, in the chapter's order (short names of :mod:`descend.optim`).
DEFAULT_OPTIMIZERS: tuple[str, ...] = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "yogi",
)  # fmt: skip


@dataclass(frozen=True)
class Task:
    """A comparison task: how to load the data and build the model, the loss, default settings
    (``eval_every``: evaluate every this many examples; None: after each epoch) and the validation target
    that times to target are measured against (:class:`~descend.lab.ranking.Target`)."""

    name: str
    description: str
    load: Callable[[str | None], Dataset]
    model: Callable[[Dataset], nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch_size: int
    epochs: int
    target: Target
    needs_data: bool = False
    eval_every: int | None = None
    takes_data: bool = False  # reads files a user has (from --data, or a default place)

    def __post_init__(self) -> None:
        if self.needs_data:
            object.__setattr__(self, "takes_data", True)


def _digits(_: str | None) -> Dataset:
    return data_module.digits()


def _diabetes(_: str | None) -> Dataset:
    return data_module.diabetes()


#: How many Fashion-MNIST images the tasks train and test on (the first of each split): small enough for
#: a tuning budget of 8 on two cores in minutes.
FASHION_TRAIN, FASHION_TEST = 6000, 1000


def _fashion(path: str | None) -> Dataset:
    folder = Path(path).expanduser() if path is not None else data_module.cache_dir() / "fashion-mnist"
    names = ", ".join(n.removesuffix(".gz") for n in data_module.FASHION_MNIST_MD5)
    try:
        ds = data_module.fashion_mnist(folder, download=False)
    except FileNotFoundError:
        raise ValueError(
            f"Invalid data: Fashion-MNIST's IDX files are not in {folder}; put the four files ({names}, "
            "each plain or .gz) there, or give their folder with --data DIR"
        ) from None
    except data_module.DataError as e:
        raise ValueError(f"Invalid data: {e}") from None
    return Dataset(ds.train_x[:FASHION_TRAIN], ds.train_y[:FASHION_TRAIN], ds.test_x[:FASHION_TEST],
                   ds.test_y[:FASHION_TEST], ds.name, ds.task, ds.num_classes)  # fmt: skip


def _characters(_: str | None) -> Dataset:
    return data_module.characters(context=CONTEXT)


#: Characters of context the character model sees.
CONTEXT = 16


def _airfoil(path: str | None) -> Dataset:
    if path is None:
        raise ValueError("Invalid data: None; the airfoil task needs the table's path (--data PATH)")
    try:
        return data_module.airfoil_dataset(path)
    except (FileNotFoundError, data_module.DataError) as e:
        raise ValueError(f"Invalid data: {e}") from None


TASKS: dict[str, Task] = {
    "digits-mlp": Task(
        "digits-mlp", "an MLP 64-128-10 (ReLU) on scikit-learn's 8×8 digits",
        _digits, lambda ds: mlp(ds.input_shape), nn.functional.cross_entropy, 64, 10, Target("val_acc", 0.95),
    ),
    "digits-cnn": Task(
        "digits-cnn", "LeNet (ReLU, max pooling, 3×3 convolutions) on scikit-learn's 8×8 digits",
        _digits, lambda ds: lenet(ds.input_shape, 10), nn.functional.cross_entropy, 64, 12,
        Target("val_acc", 0.93),
    ),
    "diabetes": Task(
        "diabetes", "linear regression on scikit-learn's diabetes table (standardized)",
        _diabetes, lambda ds: linear(ds.input_shape[0]), squared_loss, 32, 30, Target("val_loss", 0.19),
    ),
    "airfoil": Task(
        "airfoil", "the chapter's linear regression on the NASA airfoil table",
        _airfoil, lambda ds: linear(ds.input_shape[0]), squared_loss, 10, 2, Target("val_loss", 0.3),
        needs_data=True, eval_every=200,
    ),
    "fashion-mnist-mlp": Task(
        "fashion-mnist-mlp",
        f"an MLP 784-128-10 (ReLU) on Fashion-MNIST ({FASHION_TRAIN} / {FASHION_TEST} images)",
        _fashion, lambda ds: mlp(ds.input_shape), nn.functional.cross_entropy, 64, 4, Target("val_acc", 0.8),
        takes_data=True,
    ),
    "fashion-mnist-cnn": Task(
        "fashion-mnist-cnn", f"LeNet on Fashion-MNIST ({FASHION_TRAIN} / {FASHION_TEST} images)",
        _fashion, lambda ds: lenet(ds.input_shape, 10), nn.functional.cross_entropy, 64, 3,
        Target("val_acc", 0.75), takes_data=True,
    ),
    "text-chars": Task(
        "text-chars", f"a character model ({CONTEXT} characters of context, an embedding and a hidden layer) "
        "on scikit-learn's data set descriptions",
        _characters, lambda ds: char_mlp(CONTEXT, ds.num_classes), nn.functional.cross_entropy, 64, 4,
        Target("val_acc", 0.4),
    ),
}  # fmt: skip

_CHAPTER_LR = {
    "sgd": 0.05, "momentum": 0.005, "nesterov": 0.005, "adagrad": 0.1, "rmsprop": 0.01,
    "adadelta": 1.0, "adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "yogi": 0.01,
}  # fmt: skip

#: Default learning rate per task and optimizer (see the module docstring for where they come from).
DEFAULT_LR: dict[str, dict[str, float]] = {
    "digits-mlp": {
        "sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adagrad": 0.1, "rmsprop": 0.01,
        "adadelta": 1.0, "adam": 0.03, "amsgrad": 0.03, "adamw": 0.03, "yogi": 0.03,
    },
    "digits-cnn": {
        "sgd": 0.3, "momentum": 0.03, "nesterov": 0.1, "adagrad": 0.03, "rmsprop": 0.003,
        "adadelta": 1.0, "adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "yogi": 0.01,
    },
    "diabetes": {
        "sgd": 0.01, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.03, "rmsprop": 0.001,
        "adadelta": 1.0, "adam": 0.003, "amsgrad": 0.003, "adamw": 0.003, "yogi": 0.003,
    },
    "airfoil": dict(_CHAPTER_LR),
}  # fmt: skip

#: Hyperparameters other than the learning rate that a task sets by default: on the airfoil table, the
#: chapter's (ε inside the root for AdaGrad and RMSProp, γ = 0.9, Adadelta's ρ = 0.9 and ε = 1e-5, Adam's ε).
DEFAULT_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "airfoil": {
        "adagrad": {"eps": 0.0, "eps_root": 1e-6},
        "rmsprop": {"alpha": 0.9, "eps": 0.0, "eps_root": 1e-6},
        "adadelta": {"rho": 0.9, "eps": 1e-5},
        "adam": {"eps": 1e-6},
        "amsgrad": {"eps": 1e-6},
        "adamw": {"eps": 1e-6},
    },
}
