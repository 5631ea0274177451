"""How an optimizer is written on the command line (and in any text a person types): one parser for all.

A spec is ``NAME[:KEY=VALUE,...]``: a name, then optionally a colon and comma-separated settings. Values
are Python literals: numbers (``0.1``, ``1e-3``), tuples and lists (``betas=(0.8,0.99)``), strings (quoted,
or a bare word such as ``modify=abs``), and ``true``, ``false``, ``none``, ``inf`` in any case::

    >>> from descend.lab import spec
    >>> spec.parse("adam:lr=0.1,betas=(0.8,0.99)")
    ('adam', {'lr': 0.1, 'betas': (0.8, 0.99)})
    >>> spec.parse("momentum:nesterov=true")
    ('momentum', {'nesterov': True})
    >>> spec.format("adam", {"lr": 0.1, "betas": (0.8, 0.99)})
    'adam:lr=0.1,betas=(0.8,0.99)'

:func:`parse` checks only the syntax. :func:`optimizer` and :func:`method` also check the name and the
settings against what they stand for (a :mod:`descend.optim` optimizer, or any method of
:func:`descend.minimize`), offering close names for a misspelt one, so that a mistake is found before any
work is done. Every error is a ``ValueError`` with a one-line message.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from descend.checks import unknown

__all__ = [
    "Choice",
    "format",
    "method",
    "optimizer",
    "parse",
    "parse_options",
    "parse_value",
    "resolve_optimizer",
    "settings",
]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")
_WORDS = {"true": True, "false": False, "none": None, "inf": math.inf}
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _split(text: str) -> list[str]:
    """``text`` cut at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], [], None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _PAIRS:
            depth.append(_PAIRS[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        elif ch == "," and not depth:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise ValueError(f"unbalanced {'quote' if quote else 'bracket'} in {text!r}")
    parts.append(text[start:])
    return parts


def parse_value(text: str, key: str = "value") -> Any:
    """One value: a Python literal, ``true``/``false``/``none`` (any case), or a bare word as a string."""
    raw = text.strip()
    if raw.lower() in _WORDS:
        return _WORDS[raw.lower()]
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if _WORD.fullmatch(raw):
        return raw
    raise ValueError(
        f"Invalid {key}: {raw!r}; expected a number, a tuple like (0.9,0.99), true/false or a word"
    )


def parse_options(text: str, where: str = "options") -> dict[str, Any]:
    """``KEY=VALUE,KEY=VALUE`` as a dict (an empty text gives an empty dict)."""
    out: dict[str, Any] = {}
    if not text.strip():
        return out
    for piece in _split(text):
        key, sep, value = piece.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not _KEY.fullmatch(key) or not value.strip():
            hint = "; write a tuple in parentheses, e.g. betas=(0.9,0.99)" if not sep and out else ""
            raise ValueError(f"Invalid {where}: {piece.strip()!r}; expected KEY=VALUE{hint}")
        if key in out:
            raise ValueError(f"Invalid {where}: {key!r} is given twice")
        out[key] = parse_value(value, key)
    return out


def parse(spec: str) -> tuple[str, dict[str, Any]]:
    """``"NAME[:KEY=VALUE,...]"`` as ``(name, options)``; a ``ValueError`` with a one-line message names
    what is wrong."""
    if not isinstance(spec, str):
        raise ValueError(f"Invalid optimizer: {spec!r}; expected text NAME[:KEY=VALUE,...]")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(f"Invalid optimizer: {spec!r}; expected NAME[:KEY=VALUE,...], e.g. adam:lr=0.1")
    try:
        return name, parse_options(rest, f"setting of {name}")
    except ValueError as e:
        raise ValueError(f"{e} (in {spec!r})") from None


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None or value == math.inf:
        return str(value).lower()
    if isinstance(value, tuple | list):
        inner = ",".join(_show(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, str) and _WORD.fullmatch(value) and value.lower() not in _WORDS:
        return value
    return repr(value)


def format(name: str, options: Mapping[str, Any]) -> str:
    """The spec text of ``name`` with ``options`` (the inverse of :func:`parse`)."""
    if not options:
        return name
    return name + ":" + ",".join(f"{k}={_show(v)}" for k, v in options.items())


# ----------------------------------------------------------------------------------------------------------
# What a spec stands for


@dataclass(frozen=True)
class Choice:
    """A checked spec: the text, the name, the options as given, and for an optimizer its class and the
    keyword arguments it is built with (the name's implied ones, then the options)."""

    text: str
    name: str
    options: dict[str, Any]
    cls: type | None = None
    kwargs: dict[str, Any] | None = None


def _check_kind(cls: type, key: str, value: Any, default: Any) -> None:
    """A value of the kind the argument's default has: a number for a number, a switch for a switch."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, bool) and not isinstance(value, bool):
        raise ValueError(f"Invalid {key}: {value!r}; {cls.__name__}'s {key} is true or false")
    if isinstance(default, int | float) and not isinstance(default, bool) and not number:
        raise ValueError(f"Invalid {key}: {value!r}; {cls.__name__}'s {key} is a number")
    if isinstance(default, tuple) and not (
        isinstance(value, tuple | list)
        and all(
            (isinstance(v, int | float) and not isinstance(v, bool))
            or (v is None and i < len(default) and default[i] is None)  # Adafactor's eps=(None, 1e-3)
            for i, v in enumerate(value)
        )
    ):
        example = "(" + ",".join(str(v) for v in default) + ")"
        raise ValueError(f"Invalid {key}: {value!r}; {cls.__name__}'s {key} is a tuple like {example}")


def resolve_optimizer(
    name: str, options: dict[str, Any], *, text: str | None = None, extras: set[str] = frozenset()
) -> Choice:
    """:func:`optimizer` for a name and options already parsed (``text`` is what the user wrote, for
    messages)."""
    return _optimizer(text or format(name, options), name, dict(options), set(extras))


def _optimizer(
    text: str, name: str, options: dict[str, Any], extras: set[str], point: bool = False
) -> Choice:
    """An optimizer spec checked against its class: on a model's parameters (a matrix stands for them), or
    with ``point`` on one vector, the point :func:`descend.minimize` moves."""
    from descend import optim
    from descend._loop import optimizer_arguments, optimizer_options

    if name.lower() not in optim.names():
        raise unknown("optimizer", name, optim.names())
    cls, implied = optim.resolve(name)
    arguments = optimizer_arguments(cls)
    for key, value in options.items():
        if key in extras:
            continue
        if key not in arguments:
            raise unknown(f"setting of {name}", key, sorted(arguments))
        _check_kind(cls, key, value, arguments[key])
    kwargs = optimizer_options(cls, {**implied, **{k: v for k, v in options.items() if k not in extras}})
    import torch

    if point and getattr(cls, "sparse_gradients", None) == "only":
        raise ValueError(
            f"Invalid optimizer: {name!r} takes sparse gradients only (an embedding's), not a point's "
            f"(in {text!r})"
        )
    try:
        cls([torch.zeros((1,) if point else (2, 2), requires_grad=True)], **kwargs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{e} (in {text!r})") from None
    return Choice(text, name.lower(), options, cls, kwargs)


def settings(name: str) -> set[str]:
    """The settings the optimizer or method ``name`` takes (empty for a name it is not)."""
    from descend import methods, optim
    from descend._loop import optimizer_arguments

    if name.lower() in optim.names():
        return set(optimizer_arguments(optim.resolve(name)[0]))
    if methods.split(name) is not None:
        return methods.options_of(name) | {"lr"}
    return set()


def optimizer(text: str, *, extras: set[str] = frozenset()) -> Choice:
    """A spec naming a :mod:`descend.optim` optimizer (``adam``, ``momentum``, ...), its settings checked
    against the class (names, kinds, and the class's own validation). Settings named in ``extras`` are
    let through unchecked, for the caller to use."""
    name, options = parse(text)
    return _optimizer(text, name, options, set(extras))


def method(text: str, *, extras: set[str] = frozenset()) -> Choice:
    """A spec naming any method of :func:`descend.minimize`: an optimizer (``adam``) or a direction with a
    step rule (``gd``, ``newton``, ``gd-armijo``, ``precond-gd``, ...), its settings checked."""
    from descend import methods, optim

    name, options = parse(text)
    if name.lower() in optim.names():
        return _optimizer(text, name, options, set(extras), point=True)
    if methods.split(name) is None:
        known = [
            *optim.names(),
            *methods.NAMES,
            *(f"{n}-{s}" for n in ("gd", "newton") for s in methods.SEARCHES),
        ]
        raise unknown("optimizer", name, known)
    allowed = settings(name)
    own = {k: v for k, v in options.items() if k not in extras}
    for key in own:
        if key not in allowed:
            raise unknown(f"setting of {name}", key, sorted(allowed))
    try:
        methods.parse(name, **own)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{e} (in {text!r})") from None
    return Choice(text, name.lower(), options)
