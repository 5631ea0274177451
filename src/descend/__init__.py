"""descend: the optimization algorithms of deep learning, as real software."""

__version__ = "0.1.0"
