"""Data files: downloads into the cache, checked and written whole, and the IDX format of MNIST-style files.

Downloads go to a cache folder (``$DESCEND_CACHE``, or ``~/.cache/descend``), are checked against a
published checksum and written atomically (a temporary file in the same folder, then ``os.replace``), so a
failed or interrupted download never leaves a half file under the final name. :mod:`descend.data` loads
datasets with these.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import torch

from descend.files import atomic_write, replacing

__all__ = [
    "DataError",
    "DownloadError",
    "cache_dir",
    "cached",
    "digest",
    "download",
    "is_url",
    "read_idx",
    "write_idx",
]

_DOWNLOAD_TIMEOUT_S = 30.0
_URL_SCHEMES = ("http", "https", "ftp", "file")


class DataError(ValueError):
    """A data file is there but is not what it should be (truncated, malformed, wrong checksum)."""


class DownloadError(OSError):
    """A file could not be downloaded (no network, unreachable server, HTTP error)."""


# --------------------------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """The download cache: ``$DESCEND_CACHE`` when set, else ``~/.cache/descend``."""
    env = os.environ.get("DESCEND_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "descend"


def is_url(path: str | os.PathLike[str]) -> bool:
    return isinstance(path, str) and urllib.parse.urlsplit(path).scheme in _URL_SCHEMES


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike[str], *, checksum: tuple[str, str] | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``checksum = (algorithm, hexdigest)`` if given.

    The bytes go to a temporary file beside ``dest``; only a complete file with the right checksum is
    moved to ``dest`` (``os.replace``), so readers never see a partial download.

    Raises:
        DownloadError: the URL could not be read (message names the URL and the reason).
        DataError: the download was shorter than announced, or its checksum is wrong.
    """
    dest = Path(dest)
    hasher = hashlib.new(checksum[0]) if checksum is not None else None
    with replacing(dest) as out:
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                announced = response.headers.get("Content-Length")
                size = 0
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    size += len(block)
                    if hasher is not None:
                        hasher.update(block)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise DownloadError(f"could not download {url}: {reason}") from e
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise DataError(
                f"download of {url} is truncated: got {size} bytes, the server announced {announced}"
            )
        if checksum is not None and hasher.hexdigest() != checksum[1].lower():
            raise DataError(
                f"checksum mismatch for {url}: {checksum[0]} is {hasher.hexdigest()}, expected {checksum[1]} "
                "(corrupt download, or a different file at that address)"
            )
    return dest


def cached(url: str, checksum: tuple[str, str] | None, folder: Path | None) -> Path:
    """Path of ``url`` in the cache, downloading it unless a copy with the right checksum is there."""
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    dest = (folder if folder is not None else cache_dir()) / name
    if dest.is_file() and (checksum is None or digest(dest, checksum[0]) == checksum[1].lower()):
        return dest
    return download(url, dest, checksum=checksum)


# ----------------------------------------------------------------------------------------------- IDX

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file not found: {path}") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: broken gzip stream ({e})") from None
    return raw


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an IDX file (the MNIST format), gzip-compressed or not, checking its whole layout.

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then exactly
    ``prod(dims)`` big-endian values.

    Raises:
        FileNotFoundError: no file at ``path``.
        DataError: bad magic number, unknown type, or a body shorter or longer than the header says.
    """
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DataError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}; expected 0x0000TTNN "
            f"(TT a type code in {sorted(_IDX_TYPES)}, NN >= 1 dimensions)"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, the {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {state}: {len(raw)} bytes, but dimensions {dims} of {dtype.itemsize}-byte values "
            f"need {expected}"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return torch.from_numpy(values.astype(dtype.newbyteorder("=")))


def write_idx(path: str | os.PathLike[str], values: torch.Tensor | np.ndarray) -> Path:
    """Write ``values`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``), atomically."""
    a = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(a.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(
            f"Invalid values dtype: {a.dtype}; IDX stores uint8, int8, int16, int32, float32, float64"
        )
    if a.ndim == 0 or a.ndim > 255:
        raise ValueError(f"Invalid values shape: {a.shape}; IDX stores 1 to 255 dimensions")
    body = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    body += a.astype(_IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    return atomic_write(path, body)
