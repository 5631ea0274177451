"""Datasets: small embedded ones that need no network, and loaders for files a user has.

Every loader returns float32 features; classification labels are int64. Two shapes of answer:

* ``airfoil`` and ``linear_synthetic`` return ``(features, target)`` as the chapter's code does;
* ``digits``, ``diabetes``, ``characters`` and ``fashion_mnist`` return a :class:`Dataset` holding a
  train/test split.

Standardization is per column, ``(x − mean) / std`` with the *population* standard deviation
(``numpy.std``'s default, ``ddof=0``), as the chapter does for the airfoil table.

Downloads, the cache and the IDX format are :mod:`descend.datafiles`' (its names are re-exported here).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from descend.checks import integer
from descend.datafiles import (
    DataError,
    DownloadError,
    cache_dir,
    cached,
    digest,
    download,
    is_url,
    read_idx,
    write_idx,
)

__all__ = [
    "AIRFOIL_SHA1",
    "AIRFOIL_URL",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "DataError",
    "Dataset",
    "DownloadError",
    "airfoil",
    "airfoil_dataset",
    "cache_dir",
    "characters",
    "diabetes",
    "digits",
    "download",
    "fashion_mnist",
    "linear_synthetic",
    "load",
    "names",
    "read_idx",
    "write_idx",
]

AIRFOIL_URL = "http://d2l-data.s3-accelerate.amazonaws.com/airfoil_self_noise.dat"
AIRFOIL_SHA1 = "76e5be1548fd8222e5074cf0faae75edff8cf93f"
AIRFOIL_ROWS = 1503
AIRFOIL_COLUMNS = 6

# Tried in order; the checksums are the ones Zalando Research publishes for the gzip files.
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

@dataclass
class Dataset:
    """A supervised learning task split into training and test sets.

    Attributes:
        train_x, train_y: training features and targets (first dimension: examples).
        test_x, test_y: test features and targets, or ``None`` when the task has no test set (the chapter
            evaluates its airfoil runs on the training set).
        name: a short name (``"digits"``, ``"diabetes"``, ...).
        task: ``"classification"`` (int64 labels ``0..num_classes-1``) or ``"regression"`` (float32).
        num_classes: number of classes for classification, ``None`` for regression.
        val_x, val_y: a validation split (carved from the training data, :meth:`split_validation`), or
            ``None``; :func:`descend.train.fit` evaluates it as ``val_*`` beside ``train_*`` and ``test_*``.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    name: str
    task: Literal["classification", "regression"]
    num_classes: int | None = None
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"Invalid task: {self.task!r}; expected 'classification' or 'regression'")
        _check_pair(self.train_x, self.train_y, "train")
        for which in ("test", "val"):
            x, y = getattr(self, f"{which}_x"), getattr(self, f"{which}_y")
            if (x is None) != (y is None):
                raise ValueError(f"{which}_x and {which}_y must both be tensors or both be None")
            if x is not None:
                _check_pair(x, y, which)
                if x.shape[1:] != self.train_x.shape[1:]:
                    raise ValueError(
                        f"Invalid {which}_x shape: {tuple(x.shape)}; expected examples of shape "
                        f"{tuple(self.train_x.shape[1:])} like train_x"
                    )

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_test(self) -> int:
        return 0 if self.test_x is None else int(self.test_x.shape[0])

    @property
    def n_val(self) -> int:
        return 0 if self.val_x is None else int(self.val_x.shape[0])

    def split_validation(self, fraction: float, seed: int = 0, *, test: bool = True) -> Dataset:
        """This dataset with a validation split carved from its training examples: a seeded random
        ``round(n_train · fraction)`` of them (at least one) become ``val_x, val_y``, the rest stay for
        training. ``test=False`` leaves the test split out of the result (without reading it), for work
        that must not see it, such as tuning."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"Invalid validation fraction: {fraction}; expected 0 < fraction < 1")
        if self.n_train < 2:
            raise ValueError(
                f"Invalid dataset: {self.n_train} training example(s); a validation split needs 2"
            )
        train, val = _split(self.n_train, fraction, seed)
        train_t, val_t = torch.from_numpy(train), torch.from_numpy(val)
        tx, ty = (self.test_x, self.test_y) if test else (None, None)
        return Dataset(
            self.train_x[train_t], self.train_y[train_t], tx, ty, self.name, self.task, self.num_classes,
            self.train_x[val_t], self.train_y[val_t],
        )  # fmt: skip

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 8, 8)`` for digits, ``(10,)`` for diabetes."""
        return tuple(self.train_x.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, train={self.n_train}, val={self.n_val}, "
            f"test={self.n_test}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def _check_pair(x: Any, y: Any, which: str) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"Invalid {which} data: {type(x).__name__}, {type(y).__name__}; expected two torch.Tensor"
        )
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"Invalid {which} data: features of shape {tuple(x.shape)} and targets of shape "
            f"{tuple(y.shape)}; expected the same number of examples in the first dimension"
        )


# ------------------------------------------------------------------------------------------- airfoil


def _read_table(path: Path, columns: int) -> np.ndarray:
    """Parse a whitespace-separated numeric table (tabs, CRLF or LF line ends) with an exact column count."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a data file") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a text table (byte {e.start} is not ASCII)") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path} is empty; expected rows of {columns} tab-separated numbers")
    rows = np.empty((len(lines), columns), dtype=np.float64)
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) != columns:
            hint = " (the file looks truncated)" if i == len(lines) - 1 and len(fields) < columns else ""
            raise DataError(
                f"{path}, line {i + 1}: {len(fields)} columns, expected {columns} tab-separated numbers{hint}"
            )
        for j, field in enumerate(fields):
            try:
                rows[i, j] = float(field)
            except ValueError:
                raise DataError(f"{path}, line {i + 1}, column {j + 1}: not a number: {field!r}") from None
    if not np.isfinite(rows).all():
        i, j = np.argwhere(~np.isfinite(rows))[0]
        raise DataError(f"{path}, line {i + 1}, column {j + 1}: non-finite value {rows[i, j]}")
    return rows


def _standardize(a: np.ndarray, what: str) -> np.ndarray:
    """(a − mean) / std per column, population std (numpy's ``ddof=0``, as the chapter)."""
    std = a.std(axis=0)
    if np.any(std == 0):
        col = int(np.flatnonzero(std == 0)[0])
        raise DataError(f"{what}: column {col + 1} is constant, so it cannot be standardized")
    return (a - a.mean(axis=0)) / std


def airfoil(
    path: str | os.PathLike[str],
    n: int = 1500,
    *,
    sha1: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The NASA airfoil self-noise table, standardized, as the chapter loads it (``d2l.get_data_ch11``).

    The table has 1503 rows of 6 tab-separated numbers (frequency, angle of attack, chord length,
    free-stream velocity, suction-side displacement thickness; then the sound pressure level, the target).
    Every column is standardized over *all* rows, ``x ← (x − mean(x)) / std(x)`` with the population
    standard deviation, and the first ``n`` rows are kept.

    Args:
        path: a local file, or a URL (``http(s)://``, ``file://``) downloaded once into the cache
            (``cache``, default :func:`cache_dir`), e.g. :data:`AIRFOIL_URL`.
        n: how many rows to keep (the chapter uses 1500).
        sha1: expected SHA-1 of the file. Downloads are checked against :data:`AIRFOIL_SHA1` unless another
            is given; a local file is checked only when ``sha1`` is given.
        cache: folder for downloads.

    Returns:
        ``(features, target)``: float32 tensors of shapes ``(n, 5)`` and ``(n,)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataError: the file is truncated, malformed, or has the wrong checksum (the message says which
            file and what is wrong).
        DownloadError: a URL could not be downloaded.
    """
    n = integer("n", n, minimum=1)
    if is_url(path):
        expected = sha1 if sha1 is not None else AIRFOIL_SHA1
        file = cached(str(path), ("sha1", expected), None if cache is None else Path(cache))
    else:
        file = Path(path).expanduser()
        if sha1 is not None and file.is_file():
            actual = digest(file, "sha1")
            if actual != sha1.lower():
                raise DataError(f"checksum mismatch for {file}: sha1 is {actual}, expected {sha1}")
    table = _read_table(file, AIRFOIL_COLUMNS)
    if n > table.shape[0]:
        raise DataError(
            f"{file} has {table.shape[0]} rows, fewer than n={n} "
            f"(the full airfoil table has {AIRFOIL_ROWS}; is the file truncated?)"
        )
    table = _standardize(table, str(file))[:n].astype(np.float32)
    return torch.from_numpy(table[:, :-1].copy()), torch.from_numpy(table[:, -1].copy())


def airfoil_dataset(path: str | os.PathLike[str], n: int = 1500, **options: Any) -> Dataset:
    """:func:`airfoil` as a regression :class:`Dataset` with no test set (the chapter evaluates on the
    training rows)."""
    x, y = airfoil(path, n, **options)
    return Dataset(x, y, None, None, name="airfoil", task="regression")


# ------------------------------------------------------------------------------------------ synthetic


def linear_synthetic(
    n: int,
    w: Sequence[float] | torch.Tensor,
    b: float,
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear-regression data (d2l's ``synthetic_data``): ``y = X w + b + ε``.

    ``X ~ N(0, 1)`` of shape ``(n, d)`` with ``d = len(w)``, ``ε ~ N(0, noise²)``; drawn from a
    ``torch.Generator`` seeded with ``seed``, so the same arguments give the same tensors.

    Returns:
        ``(X, y)``: float32 tensors of shapes ``(n, d)`` and ``(n,)``.
    """
    n = integer("n", n, minimum=1)
    seed = integer("seed", seed, minimum=0)
    w_t = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
    if w_t.numel() == 0:
        raise ValueError(f"Invalid w: {w!r}; expected at least one weight")
    if not float(noise) >= 0:
        raise ValueError(f"Invalid noise: {noise}; expected noise >= 0")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, w_t.numel(), generator=g)
    y = x @ w_t + float(b) + float(noise) * torch.randn(n, generator=g)
    return x, y


# --------------------------------------------------------------------------------------- scikit-learn


def _split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"Invalid test_size: {test_size}; expected 0 < test_size < 1")
    seed = integer("seed", seed, minimum=0)
    n_test = max(1, round(n * test_size))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def digits(test_size: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled handwritten digits (1797 images of 8×8 pixels, 10 classes), no network.

    Images are float32 of shape ``(N, 1, 8, 8)`` scaled to ``[0, 1]`` (pixel / 16); labels are int64.
    The split is a seeded random permutation: ``round(1797 · test_size)`` test images.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy((bunch.images / 16.0).astype(np.float32)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = _split(len(labels), test_size, seed)
    return Dataset(
        images[train], labels[train], images[test], labels[test], "digits", "classification", num_classes=10
    )


def diabetes(test_size: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled diabetes regression (442 patients, 10 features, disease progression).

    Features and target are standardized, ``(x − mean) / std`` (population std), with the statistics of
    the *training* split applied to both splits so that nothing about the test set leaks into training.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.float64)
    train, test = _split(len(y), test_size, seed)
    mx, sx = x[train].mean(axis=0), x[train].std(axis=0)
    my, sy = y[train].mean(), y[train].std()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32))

    x, y = (x - mx) / sx, (y - my) / sy
    return Dataset(
        tensor(x[train]), tensor(y[train]), tensor(x[test]), tensor(y[test]), "diabetes", "regression"
    )


def characters(context: int = 16, test_size: float = 0.2) -> Dataset:
    """Next-character prediction on text that ships with scikit-learn: the descriptions of its bundled
    data sets (iris, digits, wine, breast cancer, diabetes, linnerud; about 15,000 characters), no network.

    Each example is ``context`` consecutive characters (int64 indices into the sorted vocabulary, shape
    ``(N, context)``) and its label the character that follows. The text's first ``1 − test_size`` makes
    the training windows and the rest the test windows, so no test character is seen in training (windows
    overlap within a split). The vocabulary is ``Dataset.num_classes`` characters.
    """
    from sklearn import datasets as sk

    context = integer("context", context, minimum=1)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"Invalid test_size: {test_size}; expected 0 < test_size < 1")
    loaders = (sk.load_iris, sk.load_digits, sk.load_wine, sk.load_breast_cancer, sk.load_diabetes,
               sk.load_linnerud)  # fmt: skip
    text = "\n".join(load().DESCR for load in loaders)
    vocabulary = sorted(set(text))
    codes = torch.tensor([vocabulary.index(c) for c in text], dtype=torch.int64)
    windows = codes.unfold(0, context + 1, 1)  # (len − context, context + 1)
    cut = round(len(text) * (1.0 - test_size)) - context
    x, y = windows[:, :context].contiguous(), windows[:, context].contiguous()
    return Dataset(x[:cut], y[:cut], x[cut + context :], y[cut + context :], "characters", "classification",
                   num_classes=len(vocabulary))  # fmt: skip


# ------------------------------------------------------------------------------------- Fashion-MNIST


def _fashion_file(root: Path, gz_name: str, download: bool) -> Path:
    """The file for ``gz_name`` in ``root`` (plain or gzip), downloading the gzip file when allowed."""
    plain = root / gz_name.removesuffix(".gz")
    for candidate in (plain, root / gz_name):
        if candidate.is_file():
            return candidate
    if not download:
        raise FileNotFoundError(
            f"Fashion-MNIST file missing: neither {plain} nor {root / gz_name} exists (download=False)"
        )
    failures = []
    for mirror in FASHION_MNIST_MIRRORS:
        url = mirror + gz_name
        try:
            return download_file(url, root / gz_name, checksum=("md5", FASHION_MNIST_MD5[gz_name]))
        except (DownloadError, DataError) as e:
            failures.append(str(e))
    tried = "; ".join(failures)
    raise DownloadError(
        f"could not download Fashion-MNIST's {gz_name} into {root}: {tried}. Without a network, copy the "
        f"four files ({', '.join(FASHION_MNIST_MD5)}) into {root}, or use descend.data.digits(), which "
        "needs no download"
    )


# The module-level name lets tests and callers swap the transport (e.g. for a proxy-aware one).
download_file: Callable[..., Path] = download


def fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = True) -> Dataset:
    """Fashion-MNIST (Zalando's 28×28 clothing images, 10 classes; 60000 train, 10000 test).

    Looks for the four standard files in ``root`` (default ``cache_dir() / "fashion-mnist"``), each
    either plain (``train-images-idx3-ubyte``) or gzip (``train-images-idx3-ubyte.gz``); missing ones are
    downloaded once, when ``download`` is true, from :data:`FASHION_MNIST_MIRRORS` and checked against
    the published MD5 sums. Images are float32 of shape ``(N, 1, H, W)`` scaled to ``[0, 1]``; labels
    are int64 in ``0..9``.

    Raises:
        FileNotFoundError: a file is missing and ``download`` is false.
        DownloadError: a file is missing and no mirror could be reached (the message lists what to copy).
        DataError: a file is not a valid IDX file, or images and labels do not match.
    """
    folder = Path(root).expanduser() if root is not None else cache_dir() / "fashion-mnist"
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_path = _fashion_file(folder, f"{prefix}-images-idx3-ubyte.gz", download)
        lab_path = _fashion_file(folder, f"{prefix}-labels-idx1-ubyte.gz", download)
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or images.dtype != torch.uint8:
            raise DataError(
                f"{img_path}: images of shape {tuple(images.shape)} and dtype {images.dtype}; "
                "expected uint8 of shape (N, rows, cols)"
            )
        if labels.ndim != 1 or labels.dtype != torch.uint8 or labels.shape[0] != images.shape[0]:
            raise DataError(
                f"{lab_path}: labels of shape {tuple(labels.shape)} for {images.shape[0]} images in "
                f"{img_path}; expected one uint8 label per image"
            )
        if labels.numel() and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
            raise DataError(f"{lab_path}: label {int(labels.max())} out of range 0..9")
        parts[split] = (images.unsqueeze(1).float() / 255.0, labels.long())
    return Dataset(*parts["train"], *parts["test"], "fashion-mnist", "classification", num_classes=10)


# ---------------------------------------------------------------------------------------- by name

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "diabetes": diabetes,
    "airfoil": airfoil_dataset,
    "fashion-mnist": fashion_mnist,
    "characters": characters,
}


def names() -> list[str]:
    """Names accepted by :func:`load`."""
    return list(_LOADERS)


def load(name: str, **options: Any) -> Dataset:
    """A :class:`Dataset` by name (``"digits"``, ``"diabetes"``, ``"airfoil"`` with ``path=...``,
    ``"fashion-mnist"``), passing ``options`` to its loader."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"Invalid dataset name: {name!r}; expected one of {names()}") from None
    return loader(**options)
