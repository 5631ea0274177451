"""Training checkpoints: one file holding everything a run needs to take its next step exactly.

A checkpoint holds the model, optimizer and scheduler states, every random state (the sampler's
generator, torch's CPU and CUDA generators, Python's ``random``, NumPy's global one), the position and the
history. It is written whole or not at all (:func:`descend.files.replacing`); a write killed half way
leaves a temporary ``.part`` file beside it, which :func:`clean` removes when the next run starts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from descend.files import remove_partial, replacing

FORMAT = "descend-checkpoint"
VERSION = 1


def clean(path: Path) -> list[Path]:
    """Remove what killed writes of the checkpoint ``path`` left behind; returns the files removed."""
    return remove_partial(path)


def save(path: Path, state: dict[str, Any]) -> None:
    with replacing(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)


def load(path: Path) -> dict[str, Any]:
    """The checkpoint's contents, checked to be a descend training checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"Invalid checkpoint: {path} could not be read ({e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"Invalid checkpoint: {path} is not a descend training checkpoint")
    return state


def check_model(path: Path, model: nn.Module, saved: Mapping[str, torch.Tensor]) -> None:
    """Refuse (before anything is loaded) a model state with other entries or shapes than ``model``'s."""
    own = model.state_dict()
    if set(own) != set(saved):
        missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        raise ValueError(
            f"Invalid resume: checkpoint {path} holds another model (missing {missing}, unexpected {extra})"
        )
    for key, value in own.items():
        if tuple(saved[key].shape) != tuple(value.shape):
            raise ValueError(
                f"Invalid resume: checkpoint {path} has {key} of shape {tuple(saved[key].shape)}, the model "
                f"{tuple(value.shape)}"
            )


def scheduler_state(scheduler: Any) -> dict[str, Any] | None:
    if scheduler is None:
        return None
    # Callables (a schedule function, a lambda) are code, not state: the caller rebuilds them, and
    # dropping them keeps checkpoints loadable with ``weights_only=True`` (LambdaLR does the same).
    return {k: v for k, v in scheduler.state_dict().items() if not callable(v)}


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "sampler": generator.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }


def set_rng_state(generator: torch.Generator, state: Mapping[str, Any]) -> None:
    generator.set_state(state["sampler"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(_tuples(state["python"]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))


def _tuples(v: Any) -> Any:
    """Python's ``random.setstate`` wants tuples where serialization may have left lists."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list | tuple) else v
