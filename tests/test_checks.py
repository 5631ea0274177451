"""The shared argument checks name the argument and the value."""

from __future__ import annotations

import pytest
import torch

from descend.checks import count, positive, positive_int, real


def test_real_accepts_numbers_and_one_element_tensors():
    assert real("x", 2) == 2.0 and real("x", torch.tensor([1.5])) == 1.5
    with pytest.raises(TypeError, match=r"Invalid x: True; expected a real number"):
        real("x", True)
    with pytest.raises(TypeError, match=r"Invalid x: tensor of shape \(2,\)"):
        real("x", torch.zeros(2))


def test_positive():
    assert positive("lr", 0.5) == 0.5 and positive("noise", 0, allow_zero=True) == 0.0
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"Invalid lr: .*; expected lr > 0"):
            positive("lr", bad)
    with pytest.raises(ValueError, match=r"expected noise >= 0"):
        positive("noise", -0.1, allow_zero=True)


def test_counts():
    assert count("steps", 0) == 0 and positive_int("epochs", 3) == 3
    with pytest.raises(ValueError, match=r"Invalid steps: -1; expected steps >= 0"):
        count("steps", -1)
    with pytest.raises(TypeError, match=r"Invalid steps: 2.0; expected an int"):
        count("steps", 2.0)
    with pytest.raises(ValueError, match=r"Invalid epochs: 0; expected epochs > 0"):
        positive_int("epochs", 0)
    with pytest.raises(TypeError, match=r"Invalid epochs: True; expected a positive integer"):
        positive_int("epochs", True)
