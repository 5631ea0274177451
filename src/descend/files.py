"""Files written whole or not at all.

Every file descend writes (figures, reports, CSVs, checkpoints, downloads) goes to a temporary file in the
target's folder, is flushed to disk, and is then renamed over the target with ``os.replace``, which is
atomic: a reader sees the old file or the new one, never half of one, and an interrupted write leaves the
old file as it was.

A run's output folder is claimed before the run starts (:func:`claim_folder`) and lists the files it wrote
(:func:`record_outputs`), so that runs never share a folder and a rerun into the same folder replaces the
earlier run's files without mixing the two.
"""

from __future__ import annotations

import glob
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
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


def remove_partial(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that interrupted writes of ``path`` left beside it (a process killed
    inside :func:`replacing`); returns what was removed."""
    target = Path(path)
    removed = []
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


# ----------------------------------------------------------------------------------------------------------
# Output folders: a run claims its folder before it starts, and lists what it wrote there.

#: The list of files a run wrote into its output folder, one relative path a line.
MANIFEST = ".descend-files"


def _check_writable(folder: Path, what: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".descend-probe.")
    except OSError as e:
        raise ValueError(f"Invalid {what}: {str(folder)!r} cannot be written ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def _listed(folder: Path) -> set[Path] | None:
    try:
        text = (folder / MANIFEST).read_text()
    except OSError:
        return None
    return {folder / line for line in text.splitlines() if line and not line.startswith(("/", ".."))}


def claim_folder(
    out: str | os.PathLike[str] | None,
    prefix: str,
    *,
    root: str | os.PathLike[str] = ".",
    now: datetime | None = None,
    what: str = "--out",
    keep: Iterable[str] = (),
) -> Path:
    """The folder a run writes into, made ready before the run does any work.

    With ``out`` None, a new folder ``prefix-YYYYmmdd-HHMMSS`` under ``root`` (``-2``, ``-3``, ... when that
    name is taken): it is created with ``os.mkdir``, which fails when the name exists, so two runs started in
    the same second never share a folder. A given ``out`` is created if missing; an existing one is used when
    it is empty or holds only what an earlier descend run listed in its :data:`MANIFEST`, which is removed
    first, so the two runs' files never mix; a folder with other files is refused. Either way the folder
    must be writable. Errors are ``ValueError`` naming ``what`` and the folder.

    ``keep`` names files (relative to the folder) that an earlier run listed and that this run carries on
    (the finished trials a resumed comparison reads back): they are kept, and stay listed.
    """
    if out is None:
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{prefix}-{stamp}"
        Path(root).mkdir(parents=True, exist_ok=True)
        for k in itertools.count(1):
            candidate = base if k == 1 else base.with_name(f"{base.name}-{k}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise ValueError(
                    f"Invalid {what}: {str(candidate)!r} cannot be created ({e.strerror or e})"
                ) from None
            _check_writable(candidate, what)
            return candidate
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"Invalid {what}: {str(folder)!r} is a file; expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Invalid {what}: {str(folder)!r} cannot be created ({e.strerror or e})") from None
    _check_writable(folder, what)
    present = {p for p in folder.rglob("*") if not p.is_dir()} - {folder / MANIFEST}
    if present:
        listed = _listed(folder) or set()
        foreign = sorted(str(p.relative_to(folder)) for p in present - listed)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ValueError(
                f"Invalid {what}: {str(folder)!r} holds files that no descend run wrote ({shown}); "
                "choose an empty or new folder"
            )
        kept = {folder / name for name in keep}
        for p in present - kept:
            p.unlink()
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(sub.iterdir()):
                sub.rmdir()
        carried = sorted(p for p in present & kept)
        if carried:
            record_outputs(folder, carried)
            return folder
    (folder / MANIFEST).unlink(missing_ok=True)
    return folder


def record_outputs(folder: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]]) -> Path:
    """List ``paths`` (files written inside ``folder``) in the folder's :data:`MANIFEST`, so that a later run
    given the same folder may replace them."""
    root = Path(folder)
    names = sorted({str(Path(p).resolve().relative_to(root.resolve())) for p in paths})
    return atomic_write(root / MANIFEST, "".join(f"{n}\n" for n in names))


def check_output_file(path: str | os.PathLike[str], suffixes: Iterable[str], *, what: str = "--out") -> Path:
    """A file a run will write, checked before the run: its suffix is one of ``suffixes`` and its folder
    can be created and written."""
    target = Path(path)
    allowed = sorted(s.lower() for s in suffixes)
    if target.suffix.lower() not in allowed:
        raise ValueError(f"Invalid {what}: {str(path)!r}; expected a name ending in {', '.join(allowed)}")
    if target.is_dir():
        raise ValueError(f"Invalid {what}: {str(path)!r} is a folder; expected a file name")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Invalid {what}: {str(parent)!r} cannot be created ({e.strerror or e})") from None
    _check_writable(parent, what)
    return target
