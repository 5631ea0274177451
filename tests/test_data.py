"""Tests for descend.data: every file here is written by the test itself; nothing touches the network."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from descend import data
from descend.data import DataError, DownloadError

# -------------------------------------------------------------------------------------------- airfoil


def make_table(rows: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 6)) * [1000, 5, 0.1, 40, 0.01, 6] + [2000, 7, 0.15, 50, 0.01, 125]


def write_table(path: Path, table: np.ndarray, newline: str = "\r\n") -> Path:
    lines = ["\t".join(repr(float(v)) for v in row) for row in table]
    path.write_bytes((newline.join(lines) + newline).encode("ascii"))
    return path


def population_standardized(table: np.ndarray) -> np.ndarray:
    return (table - table.mean(axis=0)) / table.std(axis=0)


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_airfoil_standardizes_every_column_over_all_rows_then_keeps_first_n(tmp_path, newline):
    table = make_table(12)
    path = write_table(tmp_path / "airfoil.dat", table, newline)
    x, y = data.airfoil(path, n=9)
    assert x.shape == (9, 5) and y.shape == (9,)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    expected = population_standardized(table)[:9]
    np.testing.assert_allclose(x.numpy(), expected[:, :5], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), expected[:, 5], rtol=1e-6, atol=1e-6)


def test_airfoil_uses_population_std_not_sample_std(tmp_path):
    table = make_table(4)
    x, _ = data.airfoil(write_table(tmp_path / "t.dat", table), n=4)
    # Over all rows: mean 0 and population variance 1 (ddof=0), so the sample variance is n/(n-1).
    np.testing.assert_allclose(x.numpy().var(axis=0, ddof=0), np.ones(5), rtol=1e-5)
    np.testing.assert_allclose(x.numpy().mean(axis=0), np.zeros(5), atol=1e-6)


def test_airfoil_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.dat"
    with pytest.raises(FileNotFoundError, match=r"nope\.dat"):
        data.airfoil(missing)


def test_airfoil_too_few_rows_is_reported_as_truncated(tmp_path):
    path = write_table(tmp_path / "short.dat", make_table(10))
    with pytest.raises(DataError, match=r"short\.dat has 10 rows, fewer than n=1500.*truncated"):
        data.airfoil(path)


def test_airfoil_row_cut_mid_way_names_the_line(tmp_path):
    path = write_table(tmp_path / "cut.dat", make_table(5))
    content = path.read_bytes()
    path.write_bytes(content[: content.rfind(b"\t", 0, content.rfind(b"\t"))])  # cut mid-row
    with pytest.raises(DataError, match=r"cut\.dat, line 5: 4 columns, expected 6.*truncated"):
        data.airfoil(path, n=4)


def test_airfoil_non_number_names_line_and_column(tmp_path):
    path = write_table(tmp_path / "bad.dat", make_table(5))
    lines = path.read_text().split("\n")
    fields = lines[2].split("\t")
    fields[3] = "abc"
    lines[2] = "\t".join(fields)
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"bad\.dat, line 3, column 4: not a number: 'abc'"):
        data.airfoil(path, n=5)


def test_airfoil_rejects_binary_and_empty_files_and_constant_columns(tmp_path):
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"\x00\xff\xfe" * 10)
    with pytest.raises(DataError, match="not a text table"):
        data.airfoil(binary, n=1)
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"\r\n")
    with pytest.raises(DataError, match="empty"):
        data.airfoil(empty, n=1)
    table = make_table(5)
    table[:, 2] = 0.3048
    with pytest.raises(DataError, match="column 3 is constant"):
        data.airfoil(write_table(tmp_path / "const.dat", table), n=5)


@pytest.mark.parametrize("n", [0, -3])
def test_airfoil_rejects_bad_n(tmp_path, n):
    with pytest.raises(ValueError, match=f"Invalid n: {n}"):
        data.airfoil(write_table(tmp_path / "t.dat", make_table(5)), n=n)


def test_airfoil_local_checksum_is_checked_when_given(tmp_path):
    path = write_table(tmp_path / "t.dat", make_table(5))
    good = hashlib.sha1(path.read_bytes()).hexdigest()
    x, _ = data.airfoil(path, n=5, sha1=good)
    assert x.shape == (5, 5)
    with pytest.raises(DataError, match=r"checksum mismatch for .*t\.dat: sha1 is " + good):
        data.airfoil(path, n=5, sha1="0" * 40)


def test_airfoil_url_downloads_once_into_the_cache(tmp_path, monkeypatch):
    source = write_table(tmp_path / "airfoil_self_noise.dat", make_table(8))
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    monkeypatch.setenv("DESCEND_CACHE", str(cache))
    x1, y1 = data.airfoil(source.as_uri(), n=8, sha1=sha1)
    cached = cache / "airfoil_self_noise.dat"
    assert cached.read_bytes() == source.read_bytes()
    source.unlink()  # the second call must not need the source any more
    x2, y2 = data.airfoil(source.as_uri(), n=8, sha1=sha1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert [p.name for p in cache.iterdir()] == ["airfoil_self_noise.dat"]  # no temporary files left


def test_airfoil_url_with_wrong_checksum_leaves_nothing_in_the_cache(tmp_path):
    source = write_table(tmp_path / "airfoil_self_noise.dat", make_table(8))
    cache = tmp_path / "cache"
    # The default checksum is the published table's, which this small table does not have.
    with pytest.raises(DataError, match=f"checksum mismatch for {source.as_uri()}: sha1 is .*expected "):
        data.airfoil(source.as_uri(), n=8, cache=cache)
    assert list(cache.iterdir()) == []


def test_download_failure_is_a_download_error_naming_the_url(tmp_path):
    url = (tmp_path / "absent.dat").as_uri()
    with pytest.raises(DownloadError, match=f"could not download {url}"):
        data.airfoil(url, cache=tmp_path / "cache")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DESCEND_CACHE", str(tmp_path / "c"))
    assert data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DESCEND_CACHE")
    assert data.cache_dir() == Path.home() / ".cache" / "descend"


# ------------------------------------------------------------------------------------------ synthetic


def test_linear_synthetic_follows_the_model_and_is_seeded():
    w, b = [2.0, -3.4], 4.2
    x, y = data.linear_synthetic(2000, w, b, noise=0.01, seed=3)
    assert x.shape == (2000, 2) and y.shape == (2000,)
    residual = y - (x @ torch.tensor(w) + b)
    assert abs(float(residual.std()) - 0.01) < 0.001
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05
    x2, y2 = data.linear_synthetic(2000, w, b, noise=0.01, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = data.linear_synthetic(2000, w, b, noise=0.01, seed=4)
    assert not torch.equal(x, x3)


def test_linear_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Invalid noise: -1"):
        data.linear_synthetic(10, [1.0], 0.0, noise=-1.0)
    with pytest.raises(ValueError, match="Invalid n: 0"):
        data.linear_synthetic(0, [1.0], 0.0)


# ------------------------------------------------------------------------------- scikit-learn bundled


def test_digits_images_labels_and_split():
    ds = data.digits(test_size=0.25, seed=1)
    assert ds.name == "digits" and ds.task == "classification" and ds.num_classes == 10
    assert ds.n_train + ds.n_test == 1797 and ds.n_test == round(1797 * 0.25)
    assert ds.train_x.shape == (ds.n_train, 1, 8, 8) and ds.train_x.dtype == torch.float32
    assert ds.train_y.dtype == torch.int64 and set(ds.train_y.tolist()) == set(range(10))
    assert float(ds.train_x.min()) == 0.0 and float(ds.train_x.max()) == 1.0
    # The two parts are the whole set, each image once: compare sorted pixel sums with scikit-learn's.
    from sklearn.datasets import load_digits

    ref = np.sort(load_digits().images.reshape(1797, -1).sum(axis=1) / 16.0)
    ours = np.sort(torch.cat([ds.train_x, ds.test_x]).reshape(1797, -1).sum(dim=1).double().numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    again = data.digits(test_size=0.25, seed=1)
    assert torch.equal(ds.test_x, again.test_x) and torch.equal(ds.test_y, again.test_y)
    assert not torch.equal(ds.test_y, data.digits(test_size=0.25, seed=2).test_y)


def test_diabetes_is_standardized_with_training_statistics():
    ds = data.diabetes(seed=0)
    assert ds.task == "regression" and ds.num_classes is None
    assert ds.train_x.shape == (354, 10) and ds.test_x.shape == (88, 10) and ds.train_y.shape == (354,)
    np.testing.assert_allclose(ds.train_x.double().mean(0).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(ds.train_x.double().std(0, unbiased=False).numpy(), 1, rtol=1e-5)
    assert abs(float(ds.train_y.double().mean())) < 1e-6
    assert abs(float(ds.train_y.double().std(unbiased=False)) - 1) < 1e-5
    # Both splits went through one increasing affine map of scikit-learn's raw targets.
    from sklearn.datasets import load_diabetes

    raw = np.sort(load_diabetes(scaled=False).target)
    ours = np.sort(torch.cat([ds.train_y, ds.test_y]).double().numpy())
    slope, intercept = np.polyfit(raw, ours, 1)
    assert slope > 0
    np.testing.assert_allclose(ours, slope * raw + intercept, atol=1e-5)


def test_split_and_dataset_validation():
    with pytest.raises(ValueError, match=r"Invalid test_size: 1\.5"):
        data.digits(test_size=1.5)
    with pytest.raises(ValueError, match="same number of examples"):
        data.Dataset(torch.zeros(3, 2), torch.zeros(4), None, None, "x", "regression")
    with pytest.raises(ValueError, match="Invalid task: 'ranking'"):
        data.Dataset(torch.zeros(3, 2), torch.zeros(3), None, None, "x", "ranking")


def test_load_by_name(tmp_path):
    assert set(data.names()) >= {"digits", "diabetes", "airfoil", "fashion-mnist"}
    assert data.load("diabetes").name == "diabetes"
    ds = data.load("airfoil", path=write_table(tmp_path / "t.dat", make_table(6)), n=6)
    assert ds.n_train == 6 and ds.test_x is None and ds.task == "regression"
    with pytest.raises(ValueError, match="Invalid dataset name: 'mnist'"):
        data.load("mnist")


# ----------------------------------------------------------------------------------------------- IDX


IDX_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(values: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file built by hand: magic, big-endian dimensions, big-endian values."""
    header = bytes([0, 0, type_code, values.ndim]) + b"".join(struct.pack(">I", d) for d in values.shape)
    return header + values.astype(values.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_of_hand_written_files(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(images)
    path = tmp_path / ("img.gz" if compress else "img")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = data.read_idx(path)
    assert got.dtype == torch.uint8 and torch.equal(got, torch.from_numpy(images))
    floats = np.array([[1.5, -2.25], [3.0, 1e30]], dtype=np.float32)
    (tmp_path / "f").write_bytes(idx_bytes(floats, 0x0D))
    assert torch.equal(data.read_idx(tmp_path / "f"), torch.from_numpy(floats))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_idx_read_idx_round_trip(tmp_path, dtype):
    values = (np.arange(30).reshape(5, 3, 2) - 7).astype(dtype)
    for name in ("a.idx", "a.idx.gz"):
        data.write_idx(tmp_path / name, values)
        got = data.read_idx(tmp_path / name)
        assert got.shape == (5, 3, 2) and torch.equal(got, torch.from_numpy(values))
    plain = (tmp_path / "a.idx").read_bytes()
    assert plain == idx_bytes(values, IDX_CODES[np.dtype(dtype)])


def test_read_idx_rejects_bad_files(tmp_path):
    good = idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))
    cases = {
        "magic": (b"\x08\x03" + good[2:], "bad IDX magic number 0x08030803"),
        "type": (good[:2] + b"\x07" + good[3:], "bad IDX magic number 0x00000703"),
        "short": (good[:-1], "truncated: 23 bytes, but dimensions \\(2, 2, 2\\)"),
        "long": (good + b"\x00", "trailing bytes"),
        "header": (good[:10], "truncated header"),
        "tiny": (b"\x00\x00", "too short"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=message):
            data.read_idx(tmp_path / name)
    (tmp_path / "broken.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(DataError, match="broken gzip"):
        data.read_idx(tmp_path / "broken.gz")
    with pytest.raises(FileNotFoundError, match="absent"):
        data.read_idx(tmp_path / "absent")


# ------------------------------------------------------------------------------------- Fashion-MNIST


def write_fashion(root: Path, gz: bool, n_train: int = 5, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        raw = idx_bytes(a)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_reads_local_files(tmp_path, gz):
    arrays = write_fashion(tmp_path, gz)
    ds = data.fashion_mnist(tmp_path, download=False)
    assert ds.name == "fashion-mnist" and ds.task == "classification" and ds.num_classes == 10
    assert ds.train_x.shape == (5, 1, 28, 28) and ds.test_x.shape == (3, 1, 28, 28)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float().unsqueeze(1) / 255
    assert torch.equal(ds.train_x, expected)
    assert ds.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_fashion_mnist_without_files_and_download_false_names_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.fashion_mnist(tmp_path, download=False)


def test_fashion_mnist_rejects_mismatched_labels(tmp_path):
    write_fashion(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 2], dtype=np.uint8)))
    with pytest.raises(DataError, match=r"labels of shape \(2,\) for 3 images"):
        data.fashion_mnist(tmp_path, download=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 2, 10], dtype=np.uint8)))
    with pytest.raises(DataError, match="label 10 out of range"):
        data.fashion_mnist(tmp_path, download=False)


def test_fashion_mnist_downloads_from_a_mirror_with_checksums(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    arrays = write_fashion(mirror, gz=True)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    unreachable = (tmp_path / "nowhere").as_uri() + "/"
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", (unreachable, mirror.as_uri() + "/"))
    monkeypatch.setattr(data, "FASHION_MNIST_MD5", md5)
    root = tmp_path / "root"
    ds = data.fashion_mnist(root)
    assert sorted(p.name for p in root.iterdir()) == sorted(md5)
    assert ds.train_y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()


def test_fashion_mnist_checksum_mismatch_and_no_network_are_clear(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_fashion(mirror, gz=True)
    monkeypatch.setattr(data, "FASHION_MNIST_MIRRORS", (mirror.as_uri() + "/",))
    # The published checksums belong to the real files, not to these tiny ones.
    expected = r"checksum mismatch.*md5 is .*expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    with pytest.raises(DownloadError, match=expected):
        data.fashion_mnist(tmp_path / "root")
    assert not any((tmp_path / "root").iterdir())

    def offline(url, dest, checksum=None):
        raise DownloadError(f"could not download {url}: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "download_file", offline)
    with pytest.raises(DownloadError, match=r"could not download Fashion-MNIST's .*copy the four files"):
        data.fashion_mnist(tmp_path / "root2")
