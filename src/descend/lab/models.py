"""The models the lab trains: the chapter's linear regression, an MLP, LeNet and a character model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["char_mlp", "lenet", "linear", "mlp"]


def linear(features: int) -> nn.Linear:
    """The chapter's linear regression ``ŷ = x·w + b`` with its initialization: w ~ N(0, 0.01²), b = 0
    (drawn from torch's global generator: seed it first)."""
    model = nn.Linear(features, 1)
    nn.init.normal_(model.weight, std=0.01)
    nn.init.zeros_(model.bias)
    return model


def mlp(input_shape: Sequence[int], hidden: int = 128, num_classes: int = 10) -> nn.Sequential:
    """An MLP: flatten, dense ``hidden`` (ReLU), dense ``num_classes``."""
    size = 1
    for s in input_shape:
        size *= int(s)
    return nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def lenet(input_shape: Sequence[int], num_classes: int = 10) -> nn.Sequential:
    """The chapter's LeNet (12.11: ReLU and max pooling), sized for the input.

    28×28 inputs (Fashion-MNIST) get the chapter's network: conv 5×5 (6, padding 2), pool, conv 5×5 (16),
    pool, dense 120, 84, classes. Smaller images (the 8×8 digits) get 3×3 convolutions with padding 1, so
    two poolings still leave a 2×2 map.
    """
    channels, height, width = (int(s) for s in input_shape)
    big = min(height, width) >= 20
    k, pad2 = (5, 0) if big else (3, 1)
    features = nn.Sequential(
        nn.Conv2d(channels, 6, kernel_size=k, padding=k // 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=k, padding=pad2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = features(torch.zeros(1, channels, height, width)).shape[1]
    return nn.Sequential(
        *features, nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)
    )


def char_mlp(context: int, vocabulary: int, embedding: int = 16, hidden: int = 128) -> nn.Sequential:
    """A character-level language model after Bengio et al. (2003): each of the ``context`` previous
    characters embedded in ``embedding`` dimensions, concatenated, one hidden layer (tanh), and scores over
    the ``vocabulary`` for the next character."""
    return nn.Sequential(
        nn.Embedding(vocabulary, embedding),
        nn.Flatten(),
        nn.Linear(context * embedding, hidden),
        nn.Tanh(),
        nn.Linear(hidden, vocabulary),
    )
