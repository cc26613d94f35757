"""helpers.datasets: the IDX reader, the Fashion-MNIST loader and downloader, the digits split.

Nothing here touches the internet: the downloader is pointed at a local
http.server on 127.0.0.1 serving tiny IDX files the tests make themselves.
"""
from __future__ import annotations

import gzip
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import datasets
from helpers.datasets import (
    FASHION_MNIST_FILES,
    download_fashion_mnist,
    load_dataset,
    load_digits_split,
    load_fashion_mnist,
    read_idx,
    write_idx,
)

# Written out by hand here (not with write_idx) so the reader is checked against the format, not itself.
TYPE_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
              np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(array: np.ndarray, big_endian_dtype: str) -> bytes:
    dt = np.dtype(big_endian_dtype)
    header = bytes([0, 0, TYPE_CODES[dt], array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(dt).tobytes()


def save(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def tiny_fashion(folder: Path, n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST files with a handful of random 28 x 28 images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in FASHION_MNIST_FILES.items():
        save(folder / name, idx_bytes(arrays[key], "u1"))
    return arrays


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize(
    "dtype, shape",
    [("u1", (3, 4, 5)), ("u1", (7,)), ("i1", (2, 3)), (">i2", (4, 2)), (">i4", (2, 3, 2)), (">f4", (5,)),
     (">f8", (2, 2))],
)
def test_read_idx_round_trips_exactly(tmp_path, suffix, dtype, shape):
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind == "f":
        array = rng.standard_normal(shape).astype(dtype)
    else:
        info = np.iinfo(np.dtype(dtype))
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    path = save(tmp_path / f"x-idx{len(shape)}-ubyte{suffix}", idx_bytes(array, dtype))

    got = read_idx(path)

    assert got.shape == shape
    assert got.dtype == np.dtype(dtype).newbyteorder("=")  # native order, so later arithmetic is fast
    np.testing.assert_array_equal(got, array)
    got[...] = 0  # the caller owns the result


def test_read_idx_known_bytes(tmp_path):
    # 2 x 3 unsigned bytes: magic 0x00000802 (type 08, 2 dims), dims 2 and 3, then the values.
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 250, 251, 252])
    got = read_idx(save(tmp_path / "known", raw))
    np.testing.assert_array_equal(got, [[1, 2, 3], [250, 251, 252]])
    # int32 is big-endian on disk: 0x00000102 is 258, not 0x02010000.
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 2])
    assert read_idx(save(tmp_path / "int.gz", raw)).tolist() == [258]


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "bad IDX magic"),  # unknown type code
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad IDX magic"),  # first byte not zero
        (b"PK\x03\x04 not idx at all", "bad IDX magic"),
        (b"\x00\x00", "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated IDX data"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "unexpected bytes"),
    ],
)
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_rejects_bad_files_naming_them(tmp_path, raw, message, suffix):
    path = save(tmp_path / f"broken-file{suffix}", raw)
    with pytest.raises(ValueError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_rejects_cut_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(1000) % 256, "u1"))
    path = tmp_path / "cut-idx1-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["w-idx3-ubyte.gz", "w-idx3-ubyte"])
def test_write_idx_is_read_back(tmp_path, name):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 12
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    np.testing.assert_array_equal(read_idx(path), array)


# ---------------------------------------------------------------------------
# Fashion-MNIST loader
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_load_fashion_mnist_scales_and_flattens(tmp_path, subfolder):
    arrays = tiny_fashion(tmp_path / subfolder if subfolder else tmp_path)
    X_train, y_train, X_test, y_test = load_fashion_mnist(tmp_path)

    assert X_train.shape == (12, 784) and X_test.shape == (5, 784)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    np.testing.assert_array_equal(X_train * 255, arrays["train_images"].reshape(12, 784))
    np.testing.assert_array_equal(X_test[3].reshape(28, 28), arrays["test_images"][3] / 255.0)
    np.testing.assert_array_equal(y_train, arrays["train_labels"])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0


def test_load_fashion_mnist_reads_unzipped_files(tmp_path):
    arrays = tiny_fashion(tmp_path)
    for name in FASHION_MNIST_FILES.values():
        gz = tmp_path / name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    _, y_train, _, _ = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(y_train, arrays["train_labels"])


def test_load_fashion_mnist_names_missing_files(tmp_path):
    tiny_fashion(tmp_path)
    (tmp_path / FASHION_MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz") as err:
        load_fashion_mnist(tmp_path)
    assert "train-images" not in str(err.value)


def test_load_fashion_mnist_rejects_mismatched_counts(tmp_path):
    tiny_fashion(tmp_path)
    save(tmp_path / FASHION_MNIST_FILES["train_labels"], idx_bytes(np.zeros(11, np.uint8), "u1"))
    with pytest.raises(ValueError, match="train-labels"):
        load_fashion_mnist(tmp_path)


# ---------------------------------------------------------------------------
# Downloader, against a local server
# ---------------------------------------------------------------------------

class Server:
    """http.server on 127.0.0.1, a free port, one daemon thread; logs the paths it was asked for."""

    LIFETIME = 30.0  # seconds: shuts itself down even if a test forgets to

    def __init__(self, root: Path):
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.timer = threading.Timer(self.LIFETIME, self.httpd.shutdown)
        self.timer.daemon = True

    def __enter__(self) -> Server:
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    arrays = tiny_fashion(root, seed=3)
    with Server(root) as server:
        yield server, root, arrays


def test_download_fetches_then_skips_present_files(tmp_path, served):
    server, root, arrays = served
    dest = tmp_path / "dest"

    paths = download_fashion_mnist(dest, base_url=server.url, progress=False)

    assert sorted(server.requests) == sorted("/" + n for n in FASHION_MNIST_FILES.values())
    assert [p.name for p in paths] == list(FASHION_MNIST_FILES.values())
    for name in FASHION_MNIST_FILES.values():
        assert (dest / name).read_bytes() == (root / name).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(FASHION_MNIST_FILES.values())  # no temp files left
    np.testing.assert_array_equal(load_fashion_mnist(dest)[1], arrays["train_labels"])

    # Second call: everything present, nothing requested.
    server.requests.clear()
    download_fashion_mnist(dest, base_url=server.url, progress=False)
    assert server.requests == []

    # One file gone: only that one is fetched again.
    (dest / FASHION_MNIST_FILES["test_images"]).unlink()
    download_fashion_mnist(dest, base_url=server.url.rstrip("/"), progress=False)  # no trailing slash either
    assert server.requests == ["/t10k-images-idx3-ubyte.gz"]


def test_download_reports_progress(tmp_path, served, capsys):
    server, _, _ = served
    download_fashion_mnist(tmp_path / "dest", base_url=server.url, progress=True)
    download_fashion_mnist(tmp_path / "dest", base_url=server.url, progress=True)
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "done" in err and "already present" in err


def test_download_failure_is_clear_and_leaves_nothing(tmp_path, served):
    server, root, _ = served
    (root / FASHION_MNIST_FILES["train_labels"]).unlink()
    dest = tmp_path / "dest"
    with pytest.raises(RuntimeError, match=r"could not download .*train-labels-idx1-ubyte\.gz.*404"):
        download_fashion_mnist(dest, base_url=server.url, progress=False)
    assert not (dest / FASHION_MNIST_FILES["train_labels"]).exists()
    assert not list(dest.glob("*.part"))
    assert not list(dest.glob(".*"))


def test_download_rejects_a_page_that_is_not_idx(tmp_path, served):
    server, root, _ = served
    (root / FASHION_MNIST_FILES["test_labels"]).write_text("<html>moved</html>")
    dest = tmp_path / "dest"
    with pytest.raises(RuntimeError, match="bad IDX magic"):
        download_fashion_mnist(dest, base_url=server.url, progress=False)
    assert not (dest / FASHION_MNIST_FILES["test_labels"]).exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        FASHION_MNIST_FILES[k] for k in ("train_images", "train_labels", "test_images")
    )


def test_download_to_unreachable_server_fails_clearly(tmp_path):
    # A port that was just free: connection refused, immediately.
    with Server(tmp_path) as server:
        url = server.url
    with pytest.raises(RuntimeError, match="could not download http://127.0.0.1"):
        download_fashion_mnist(tmp_path / "dest", base_url=url, progress=False, timeout=5)


def test_default_url_is_the_public_one():
    assert datasets.FASHION_MNIST_URL.startswith("http") and "fashion-mnist" in datasets.FASHION_MNIST_URL
    import inspect

    assert inspect.signature(download_fashion_mnist).parameters["base_url"].default == datasets.FASHION_MNIST_URL


# ---------------------------------------------------------------------------
# Digits and load_dataset
# ---------------------------------------------------------------------------

def test_digits_split():
    X_train, y_train, X_test, y_test = load_digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    # Stratified: every class's share of the test set is within one example of its share overall.
    counts_all = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    np.testing.assert_allclose(np.bincount(y_test, minlength=10), counts_all * 450 / 1797, atol=1)
    # Fixed for a seed, different across seeds, and a partition of the 1797 images.
    np.testing.assert_array_equal(load_digits_split(seed=0)[0], X_train)
    assert not np.array_equal(load_digits_split(seed=1)[0], X_train)
    rows = {r.tobytes() for r in X_train} | {r.tobytes() for r in X_test}
    assert len(rows) >= 1797 - 10  # the raw set has a few duplicate images, nothing more


def test_load_dataset_auto_picks_fashion_when_present(tmp_path):
    arrays = tiny_fashion(tmp_path / "fashion-mnist")
    ds = load_dataset("auto", folder=tmp_path)
    assert ds.name == "fashion-mnist"
    assert ds.X_train.shape == (12, 784) and ds.num_classes == 10 and ds.num_features == 784
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])


def test_load_dataset_auto_falls_back_to_digits(tmp_path):
    tiny_fashion(tmp_path)
    (tmp_path / FASHION_MNIST_FILES["train_images"]).unlink()  # three of four files is not enough
    ds = load_dataset("auto", folder=tmp_path)
    assert ds.name == "digits" and ds.X_train.shape == (1347, 64) and ds.num_classes == 10
    assert "digits" in repr(ds)


def test_load_dataset_by_name(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset("fashion-mnist", folder=tmp_path)
    assert load_dataset("digits", folder=tmp_path).name == "digits"
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("cifar", folder=tmp_path)


def test_module_imports_only_numpy_and_stdlib():
    import subprocess
    import sys

    code = (
        "import sys; import helpers.datasets, helpers.training; "
        "bad = sorted(m for m in ('sklearn', 'torch', 'matplotlib', 'tqdm', 'scipy') if m in sys.modules); "
        "print(','.join(bad))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
