"""descend: the optimization algorithms of deep learning, as real software."""

import sys as _sys
import types as _types

__version__ = "0.1.0"

# Loaded on first use, so that `import descend` (and so the command line) does not import torch.
_LAZY = {
    "minimize": "descend.minimize",
    "sweep": "descend.sweep",
    "SweepResult": "descend.sweep",
    "Result": "descend.result",
}
# Functions that share their name with the module that defines them.
_SHADOWED = ("minimize", "sweep")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descend' has no attribute {name!r}")


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # Importing the module descend.minimize makes Python set the package's attribute `minimize` to that
        # module; keep the function there instead, so `descend.minimize(...)` works whatever was imported.
        if name in _SHADOWED and isinstance(value, _types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
