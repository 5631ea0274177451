"""Compiling kernels, and the cache they are kept in: private, verified before loading, written whole.

A compiled library runs with the rights of whoever trains, so nothing is loaded from the cache unless this
user built it there:

* The cache (``$DESCEND_CACHE``, default ``~/.cache/descend``, kernels in its ``kernels`` folder) is created
  with mode 0700. Before anything in it is used, its folders must belong to the current user and be
  writable by no one else, and every folder above them must belong to the user or to root and be writable
  by no one else (or be sticky, as ``/tmp`` is). Otherwise kernels are built in a private temporary folder
  for this process, with one warning, and nothing in the cache is loaded.
* Each library (``step_<hash>.so``) has its SHA-256 written beside it (``.sha256``). It is loaded only if
  both files are regular files of the current user, writable by no one else, and the library's bytes match
  the digest. A missing, empty, truncated or foreign library is rebuilt, with a warning where one was there.
* A library is compiled in a private temporary folder, flushed to disk and renamed into place: a reader
  sees the old file or the new one, never half of one.

Without a working compiler (none installed, or one that cannot build OpenMP code, as Apple's clang) the C
backend is unavailable; the default path then runs the multi-tensor program, without a word.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from descend.optim.engine.backend import CompileError

# -ffp-contract=off: no fused multiply-add, each operation rounds as torch's; -fno-trapping-math: the kernel
# never traps on a floating-point exception (none is enabled), so selects may compute both sides and vectorise
FLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
         "-shared", "-fPIC"]  # fmt: skip


@functools.cache
def compiler() -> str | None:
    """The C compiler (``$CC``, else ``cc`` or ``gcc``), or None when there is none (looked up once)."""
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


_PROBE = """int probe(int n) {
    int s = 0;
    #pragma omp parallel for reduction(+:s)
    for (int i = 0; i < n; ++i) s += i;
    return s;
}
"""


@functools.cache
def working() -> bool:
    """Whether the compiler builds OpenMP code here (tried once per process, through the cache; quiet)."""
    if compiler() is None:
        return False
    try:
        lib = load(_PROBE, "probe")
    except (CompileError, OSError):
        return False
    return lib.probe(10) == 45


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


# ---- the cache folder ---------------------------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get("DESCEND_CACHE") or Path.home() / ".cache" / "descend")


def _make_private(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0700."""
    missing = []
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            os.mkdir(path, 0o700)


def _writable_by_others(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def insecurity(folder: Path, root: Path) -> str | None:
    """Why ``folder`` (inside the cache ``root``) may not hold kernels, or None if it may."""
    uid = os.geteuid()
    real = folder.resolve()
    top = root.resolve()
    for path in [real, *real.parents]:
        st = os.stat(path)
        ours = path == top or top in path.parents
        if not stat.S_ISDIR(st.st_mode):
            return f"{path} is not a folder"
        if ours:
            if st.st_uid != uid:
                return f"{path} belongs to user {st.st_uid}, not to the current user {uid}"
            if _writable_by_others(st):
                return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
        else:
            if st.st_uid not in (uid, 0):
                return f"{path} belongs to user {st.st_uid}"
            if _writable_by_others(st) and not st.st_mode & stat.S_ISVTX:
                return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


_LOCK = threading.Lock()
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(f"descend: {message}", RuntimeWarning, stacklevel=6)


@functools.cache
def _private_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="descend-kernels-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


#: Age after which a build's temporary folder or file is taken as left by a process that died mid-build.
STALE_SECONDS = 3600.0


def _sweep(folder: Path) -> None:
    """Remove what builds that never finished left in ``folder`` (a killed process, a lost thread)."""
    now = time.time()
    for leftover in [*folder.glob("tmp*"), *folder.glob(".*.part")]:
        try:
            if now - leftover.lstat().st_mtime > STALE_SECONDS:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        except OSError:
            pass  # another process is removing it


def kernels_folder() -> Path:
    """Where kernels are kept: the cache's ``kernels`` folder, or a private one if that is not safe."""
    root = cache_root()
    folder = root / "kernels"
    try:
        _make_private(folder)
        reason = insecurity(folder, root)
    except OSError as e:
        reason = f"it cannot be created: {e}"
    if reason is None:
        _sweep(folder)
        return folder
    _warn_once(
        f"the kernel cache {folder} is not used because {reason}; kernels are built in a private "
        "temporary folder for this process (set DESCEND_CACHE to a folder only you can write)"
    )
    return _private_folder()


# ---- verified files -----------------------------------------------------------------------------------


def _own_file(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not _writable_by_others(st)


def verified(library: Path) -> bool:
    """Whether ``library`` and its digest are this user's own files and the bytes match the digest."""
    digest = library.with_suffix(".sha256")
    if not (_own_file(library) and _own_file(digest)):
        return False
    try:
        expected = digest.read_text().strip()
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(library, flags), "rb") as f:
            actual = hashlib.sha256(f.read()).hexdigest()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(expected) and actual == expected


def _write_whole(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


Command = Callable[[str, str], list[str]]


def _c_command(source: str, output: str) -> list[str]:
    cc = compiler()
    if cc is None:
        raise CompileError("no C compiler was found (set CC, or install gcc)")
    return [cc, *FLAGS, source, "-o", output, "-lm"]


def _compile(source: str, command: Command, suffix: str, folder: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        src, built = Path(tmp) / f"source{suffix}", Path(tmp) / "built.so"
        src.write_text(source)
        argv = command(str(src), str(built))
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise CompileError(f"compiling with {argv[0]} failed:\n{result.stderr}")
        data = built.read_bytes()
    _write_whole(target.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode())
    _write_whole(target, data)


_LOCKS: dict[Path, threading.Lock] = {}


def library(source: str, kind: str, command: Command = _c_command, suffix: str = ".c") -> Path:
    """The verified library built from ``source``, compiled once per machine; its path.

    It is ``<kind>_<hash>.so`` in the kernels folder, the hash covering the source, the command (flags,
    include paths) and the CPU. A library being built in one thread does not hold up another's.
    """
    argv = command("source", "built")
    key = hashlib.sha256("\0".join([source, *argv, _cpu_signature()]).encode()).hexdigest()[:24]
    folder = kernels_folder()
    target = folder / f"{kind}_{key}.so"
    with _LOCK:
        lock = _LOCKS.setdefault(target, threading.Lock())
    with lock:
        if not verified(target):
            if target.exists() or target.with_suffix(".sha256").exists():
                _warn_once(f"the cached kernel {target} is damaged or not this user's own; rebuilding it")
            try:
                _compile(source, command, suffix, folder, target)
            except OSError as e:
                raise CompileError(f"cannot write the kernel {target}: {e} (set DESCEND_CACHE)") from e
            if not verified(target):
                raise CompileError(f"the kernel {target} changed while it was written")
    return target


def load(source: str, kind: str = "step") -> ctypes.CDLL:
    """Compile the C ``source`` once per machine (see :func:`library`) and load it."""
    return ctypes.CDLL(str(library(source, kind)))
