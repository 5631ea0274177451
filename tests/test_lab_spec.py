"""descend.lab.spec: one parser for NAME[:KEY=VALUE,...], values as Python literals, one-line errors."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from descend.lab import spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adam", ("adam", {})),
        ("adam:lr=0.1,betas=(0.8,0.99)", ("adam", {"lr": 0.1, "betas": (0.8, 0.99)})),
        (" adam : lr = 1e-3 , betas = ( 0.8 , 0.99 ) ", ("adam", {"lr": 0.001, "betas": (0.8, 0.99)})),
        ("momentum:nesterov=True,momentum=0.5", ("momentum", {"nesterov": True, "momentum": 0.5})),
        ("sgd:maximize=false,dampening=0", ("sgd", {"maximize": False, "dampening": 0})),
        ("newton:modify=abs,line_search='wolfe'", ("newton", {"modify": "abs", "line_search": "wolfe"})),
        ("gd-armijo:c1=1e-3", ("gd-armijo", {"c1": 0.001})),
        ("x:a=[1,(2,3)],b=None,c={'k':1}", ("x", {"a": [1, (2, 3)], "b": None, "c": {"k": 1}})),
        ("x:weight-decay=0.1", ("x", {"weight_decay": 0.1})),
    ],
)
def test_parse(text, expected):
    assert spec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["Invalid optimizer", "NAME[:KEY=VALUE"]),
        (":lr=1", ["Invalid optimizer"]),
        ("adam:lr", ["'lr'", "expected KEY=VALUE"]),
        ("adam:lr=", ["'lr='", "KEY=VALUE"]),
        ("adam:betas=0.9,0.99", ["'0.99'", "parentheses"]),
        ("adam:lr=0.1,lr=0.2", ["'lr' is given twice"]),
        ("adam:betas=(0.9,0.99", ["unbalanced bracket"]),
        ("adam:lr=1 2", ["Invalid lr", "'1 2'"]),
        ("adam:1x=2", ["'1x=2'"]),
    ],
)
def test_parse_errors_are_one_line_and_name_the_piece(text, words):
    with pytest.raises(ValueError) as info:
        spec.parse(text)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)),
    st.sampled_from(["abs", "wolfe", "damp"]),
)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), values, max_size=5))
def test_format_is_the_inverse_of_parse(options):
    assert spec.parse(spec.format("adam", options)) == ("adam", options)


def test_an_optimizer_spec_is_checked_against_its_class():
    choice = spec.optimizer("momentum:lr=0.2,nesterov=true")
    assert choice.cls.__name__ == "SGD" and choice.kwargs == {"momentum": 0.9, "lr": 0.2, "nesterov": True}
    assert spec.optimizer("adam:beta1=0.8").kwargs == {"betas": (0.8, 0.999)}
    cases = [
        ("adamm", "did you mean adam or"),
        ("adam:foo=1", "Invalid setting of adam: 'foo'"),
        ("adam:betas1=0.5", "did you mean betas or beta1"),
        ("adam:lr=abc", "Invalid lr: 'abc'; Adam's lr is a number"),
        ("adam:amsgrad=1", "Invalid amsgrad: 1; Adam's amsgrad is true or false"),
        ("adam:betas=0.9", "Adam's betas is a tuple like (0.9,0.999)"),
        ("adam:betas=(2,0.9)", "Invalid beta parameter at index 0: 2; expected 0 <= beta < 1 (in 'adam"),
        ("sgd:lr=-1", "Invalid learning rate: -1"),
    ]
    for text, words in cases:
        with pytest.raises(ValueError) as info:
            spec.optimizer(text)
        assert words in str(info.value) and "__init__" not in str(info.value), (text, str(info.value))
    assert spec.optimizer("adam:lr=0.1,momentum=0.3", extras={"momentum"}).kwargs == {"lr": 0.1}


def test_a_method_spec_is_any_method_of_minimize():
    assert spec.method("gd-armijo:c1=1e-3,lr=2").options == {"c1": 0.001, "lr": 2}
    assert spec.method("newton:modify=abs").name == "newton"
    assert spec.method("adam:lr=0.1").cls.__name__ == "Adam"
    cases = [
        ("gd-armjo", "did you mean gd-armijo"),
        ("gd:modify=abs", "'modify'"),
        ("newton:modify=xyz", "Invalid modify: 'xyz'"),
        ("gd:lr=0", "Invalid lr: 0"),
    ]
    for text, words in cases:
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            spec.method(text)


def test_docstring_examples():
    assert doctest.testmod(spec).failed == 0
