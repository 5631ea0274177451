"""Files written whole or not at all.

Every file descend writes (figures, reports, CSVs, checkpoints, downloads) goes to a temporary file in the
target's folder, is flushed to disk, and is then renamed over the target with ``os.replace``, which is
atomic: a reader sees the old file or the new one, never half of one, and an interrupted write leaves the
old file as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not safe to do while other threads run.
_UMASK = _umask()


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """An open binary file that becomes ``path`` when the ``with`` block ends without an error.

    Missing parent folders are created. The file gets the permissions a plain ``open`` would give it
    (0666 less the umask), not the private ones of a temporary file. On an error the temporary file is
    removed and any old ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all; return the path."""
    with replacing(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
