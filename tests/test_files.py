"""Files are written whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from descend.files import atomic_write, replacing


def test_written_file_has_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write(tmp_path / "sub" / "report.html", "<p>hi</p>")
    assert path.read_text() == "<p>hi</p>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_write(path, b"old")
    with pytest.raises(RuntimeError, match="disk full"), replacing(path) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_replacing_streams_into_place(tmp_path):
    path = tmp_path / "data.bin"
    with replacing(path) as handle:
        for i in range(3):
            handle.write(bytes([i]) * 4)
        assert not path.exists()  # nothing is visible before the block ends
    assert path.read_bytes() == b"\0" * 4 + b"\1" * 4 + b"\2" * 4
