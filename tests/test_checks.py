"""descend.checks: one set of argument checks; every message names the argument and the value."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from descend import checks
from descend.checks import (
    choice,
    count,
    integer,
    interval,
    nonnegative,
    positive,
    positive_int,
    real,
    seeds,
    unknown,
)


def test_real_accepts_numbers_and_one_element_tensors():
    assert real("x", 2) == 2.0 and real("x", torch.tensor([1.5])) == 1.5 and real("x", np.float32(0.5)) == 0.5
    with pytest.raises(TypeError, match=r"Invalid x: True; expected a real number"):
        real("x", True)
    with pytest.raises(TypeError, match=r"Invalid x: 'a'; expected a real number"):
        real("x", "a")
    with pytest.raises(TypeError, match=r"Invalid x: tensor of shape \(2,\)"):
        real("x", torch.zeros(2))
    with pytest.raises(ValueError, match=r"Invalid x: inf; expected a finite number"):
        real("x", float("inf"))
    assert real("x", float("inf"), finite=False) == float("inf")


def test_positive_and_nonnegative_refuse_the_same_things_everywhere():
    assert positive("lr", 0.5) == 0.5 and positive("noise", 0, allow_zero=True) == 0.0
    assert nonnegative("rate", 0) == 0.0
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"Invalid lr: .*; expected lr > 0"):
            positive("lr", bad)
    for bad in (float("nan"), float("inf"), -float("inf")):  # non-finite: one message, whatever the check
        for check in (positive, nonnegative):
            with pytest.raises(ValueError, match=r"Invalid lr: .*; expected a finite number"):
                check("lr", bad)
    with pytest.raises(ValueError, match=r"expected noise >= 0"):
        positive("noise", -0.1, allow_zero=True)


def test_intervals():
    assert interval("beta", 0.0, 0, 1, high_open=True) == 0.0
    with pytest.raises(ValueError, match=r"Invalid beta: 1.0; expected 0 <= beta < 1"):
        interval("beta", 1.0, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"Invalid c1: 0; expected 0 < c1 < 1"):
        interval("c1", 0, 0, 1, low_open=True, high_open=True)


def test_counts():
    assert count("steps", 0) == 0 and positive_int("epochs", 3) == 3 and integer("n", np.int64(4)) == 4
    with pytest.raises(ValueError, match=r"Invalid steps: -1; expected steps >= 0"):
        count("steps", -1)
    with pytest.raises(TypeError, match=r"Invalid steps: 2.0; expected an integer"):
        count("steps", 2.0)
    with pytest.raises(ValueError, match=r"Invalid epochs: 0; expected epochs > 0"):
        positive_int("epochs", 0)
    with pytest.raises(TypeError, match=r"Invalid epochs: True; expected a positive integer"):
        positive_int("epochs", True)
    with pytest.raises(ValueError, match=r"Invalid k: 11; expected 1 <= k <= 10"):
        integer("k", 11, minimum=1, maximum=10)


def test_seeds_and_choices():
    assert seeds("seeds", [0, 3]) == [0, 3]
    for bad in ([], 3, [0, -1], [1, 1], [0.5]):
        with pytest.raises((ValueError, TypeError), match=r"Invalid seeds"):
            seeds("seeds", bad)
    assert choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"Invalid mode: 'mni'; did you mean min\?"):
        choice("mode", "mni", ("min", "max"))


def test_unknown_offers_the_close_names_or_else_lists_them():
    assert str(unknown("optimizer", "adamm", ["sgd", "adam", "adamw"])) == (
        "Invalid optimizer: 'adamm'; did you mean adam or adamw?"
    )
    assert str(unknown("task", "mnist", ["digits-cnn", "diabetes"])) == (
        "Invalid task: 'mnist'; expected one of digits-cnn, diabetes"
    )


def test_docstring_examples():
    assert doctest.testmod(checks).failed == 0
