"""The kernel cache: private, verified before anything in it is loaded, rebuilt when damaged."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time

import pytest
import torch

from descend import optim
from descend.optim.engine.c import build, kernel

PLANT = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE* f = fopen("%s", "w");
    if (f) { fputs("planted code ran", f); fclose(f); }
}
int step(void) { return 0; }
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache and no kernel in memory: what a new process on a new machine starts with."""
    root = tmp_path / "cache"
    monkeypatch.setenv("DESCEND_CACHE", str(root))
    monkeypatch.setattr(kernel, "_KERNELS", {})
    monkeypatch.setattr(build, "_warned", set())
    return root


def adadelta_step() -> tuple[torch.Tensor, torch.Tensor]:
    """One fused step and the same step on the loop, for a configuration no other test compiles."""
    ours, reference = torch.linspace(-1, 1, 50).requires_grad_(), torch.linspace(-1, 1, 50).requires_grad_()
    for p, kwargs in ((ours, {"fused": True}), (reference, {"foreach": False})):
        opt = optim.Adadelta([p], lr=0.7, rho=0.8, weight_decay=0.3, **kwargs)
        p.grad = torch.cos(p.detach())
        opt.step()
    return ours, reference


def populate(root) -> torch.Tensor:
    """Build the kernel into the cache in another process (a library loaded here must not change under us)."""
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); from test_optim_cache import adadelta_step;"
        "torch.save(adadelta_step()[0], sys.argv[2])"
    )
    out = root.parent / "populated.pt"
    env = {**os.environ, "DESCEND_CACHE": str(root)}
    subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__), str(out)], env=env, check=True)
    return torch.load(out)


def the_library(root) -> os.PathLike:
    (library,) = (root / "kernels").glob("step_*.so")
    return library


def plant(root, library, marker) -> None:
    """Put a library that announces itself when loaded where the kernel was, with a matching digest."""
    source = root / "plant.c"
    source.write_text(PLANT % marker)
    subprocess.run(["cc", "-shared", "-fPIC", str(source), "-o", str(library)], check=True)
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    library.with_suffix(".sha256").write_text(digest)


def test_the_cache_is_created_private(cache):
    adadelta_step()
    for path in (cache, cache / "kernels", the_library(cache), the_library(cache).with_suffix(".sha256")):
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
        assert os.stat(path).st_uid == os.geteuid()


def test_a_library_in_a_folder_others_can_write_is_never_loaded(cache, tmp_path, monkeypatch):
    ours = populate(cache)
    library = the_library(cache)
    marker = tmp_path / "marker"
    plant(cache, library, marker)
    os.chmod(cache / "kernels", 0o777)  # anyone may have put it there
    monkeypatch.setattr(kernel, "_KERNELS", {})  # a new process
    with pytest.warns(RuntimeWarning, match="is writable by other users .* private temporary folder"):
        again, _ = adadelta_step()
    assert not marker.exists()
    assert torch.equal(again, ours)


def test_a_library_that_is_not_this_users_own_is_never_loaded(cache, tmp_path, monkeypatch):
    ours = populate(cache)
    library = the_library(cache)
    marker = tmp_path / "marker"
    plant(cache, library, marker)
    if os.geteuid() == 0:
        os.chown(library, 65534, 65534)  # another user's file
    else:
        os.chmod(library, 0o666)  # a file others may rewrite
    monkeypatch.setattr(kernel, "_KERNELS", {})
    with pytest.warns(RuntimeWarning, match="damaged or not this user's own; rebuilding it"):
        again, _ = adadelta_step()
    assert not marker.exists()
    assert torch.equal(again, ours)
    assert build.verified(library) and os.stat(library).st_uid == os.geteuid()


def test_a_symbolic_link_in_the_cache_is_never_followed(cache, tmp_path, monkeypatch):
    ours = populate(cache)
    library = the_library(cache)
    elsewhere = tmp_path / "elsewhere.so"
    marker = tmp_path / "marker"
    plant(cache, elsewhere, marker)
    library.unlink()
    library.symlink_to(elsewhere)
    library.with_suffix(".sha256").write_text(hashlib.sha256(elsewhere.read_bytes()).hexdigest())
    monkeypatch.setattr(kernel, "_KERNELS", {})
    with pytest.warns(RuntimeWarning, match="rebuilding it"):
        again, _ = adadelta_step()
    assert not marker.exists() and not library.is_symlink()
    assert torch.equal(again, ours)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "no digest", "wrong digest"])
def test_a_damaged_library_is_rebuilt_with_a_warning_never_loaded(cache, monkeypatch, damage):
    ours = populate(cache)
    library = the_library(cache)
    data = library.read_bytes()
    if damage == "empty":
        library.write_bytes(b"")
    elif damage == "garbage":
        library.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        library.write_bytes(data[: len(data) // 2])
    elif damage == "no digest":
        library.with_suffix(".sha256").unlink()
    else:
        library.with_suffix(".sha256").write_text("0" * 64)
    monkeypatch.setattr(kernel, "_KERNELS", {})
    with pytest.warns(RuntimeWarning, match="damaged or not this user's own; rebuilding it"):
        again, _reference = adadelta_step()
    assert torch.equal(again, ours)
    torch.testing.assert_close(again, _reference)
    assert library.read_bytes() == data  # the same compiler, flags and source build the same library
    assert build.verified(library)


def test_a_cache_that_cannot_be_created_builds_privately(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("DESCEND_CACHE", str(blocker))
    monkeypatch.setattr(kernel, "_KERNELS", {})
    monkeypatch.setattr(build, "_warned", set())
    with pytest.warns(RuntimeWarning, match="cannot be created"):
        ours, reference = adadelta_step()
    torch.testing.assert_close(ours, reference)
    assert blocker.read_text() == "a file where the cache folder should be"


def test_folders_above_the_cache_must_not_be_open_to_others(tmp_path):
    shared = tmp_path / "shared"
    kernels = shared / "cache" / "kernels"
    kernels.mkdir(parents=True)
    for folder in (shared / "cache", kernels):
        os.chmod(folder, 0o700)
    os.chmod(shared, 0o777)  # anyone may swap our cache folder for theirs
    assert "writable by other users" in build.insecurity(kernels, shared / "cache")
    os.chmod(shared, 0o1777)  # sticky, as /tmp: others cannot rename what is ours
    assert build.insecurity(kernels, shared / "cache") is None


def test_what_a_killed_build_left_is_swept_once_it_is_stale(cache):
    adadelta_step()
    kernels = cache / "kernels"
    stale_dir, stale_part = kernels / "tmpdead", kernels / ".step_x.so.abc.part"
    fresh_dir = kernels / "tmpbusy"
    stale_dir.mkdir()
    (stale_dir / "source.c").write_text("int x;")
    stale_part.write_bytes(b"half a library")
    fresh_dir.mkdir()  # a build in progress in another process
    old = time.time() - 2 * build.STALE_SECONDS
    for path in (stale_dir, stale_part):
        os.utime(path, (old, old))
    build.kernels_folder()
    assert not stale_dir.exists() and not stale_part.exists() and fresh_dir.exists()
