"""Data sets for the TrainingTester notebook.

Two classification sets, both as float64 features in [0, 1] with one example
per row and integer labels:

* Fashion-MNIST (70 000 images of 28 x 28 = 784 pixels, 10 classes), read
  from the four standard IDX files once :func:`download_fashion_mnist` (or
  the student, by hand) has put them in ``data/``;
* scikit-learn's bundled copy of the UCI handwritten digits (1 797 images
  of 8 x 8 = 64 pixels, 10 classes), which needs no download at all.

This module ships to students, so at import time it uses nothing but numpy
and the standard library; scikit-learn is imported only when the digits
are asked for.
"""
from __future__ import annotations

import gzip
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# IDX type codes -> numpy dtypes. Multi-byte values are big-endian on disk.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it is gzip (decided by its first bytes, not its name)."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as err:  # BadGzipFile is an OSError; a cut-off stream is an EOFError
        raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) into an array of its stored shape.

    Header: two zero bytes, a type code (0x08 = unsigned byte, 0x09 signed
    byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
    dimensions, then each dimension as a big-endian uint32. The values follow,
    big-endian, row-major. Returned in native byte order, writeable.
    Raises ValueError naming the file if the header is not IDX or the data is
    shorter or longer than the header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} "
            "(expected 0x0000 then a type code 08/09/0B/0C/0D/0E and the number of dimensions)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need {header_size})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_size
    if payload < expected:
        raise ValueError(f"{path}: truncated IDX data: shape {shape} needs {expected} bytes, file has {payload}")
    if payload > expected:
        raise ValueError(f"{path}: {payload - expected} unexpected bytes after the IDX data of shape {shape}")
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    # frombuffer views the read-only bytes; astype copies into native order and owns its memory.
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if the name ends in .gz). The inverse of read_idx."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    # mtime=0 keeps the gzip bytes reproducible.
    path.write_bytes(gzip.compress(body, mtime=0) if path.suffix == ".gz" else body)
    return path


# ---------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------

def _find_file(folder: Path, name: str) -> Path | None:
    """``name`` (or its unzipped twin) in ``folder`` or ``folder/fashion-mnist``."""
    for where in (folder, folder / "fashion-mnist"):
        for candidate in (name, name.removesuffix(".gz")):
            if (where / candidate).is_file():
                return where / candidate
    return None


def fashion_mnist_present(folder: str | os.PathLike = "data") -> bool:
    """True if all four Fashion-MNIST files are in ``folder`` (or ``folder/fashion-mnist``)."""
    return all(_find_file(Path(folder), name) for name in FASHION_MNIST_FILES.values())


def load_fashion_mnist(folder: str | os.PathLike = "data") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> X_train (N, 784), y_train (N,), X_test (M, 784), y_test (M,).

    X is float64 in [0, 1] (pixel / 255), y is int64 in 0..9.
    N = 60 000 and M = 10 000 for the real files.
    """
    folder = Path(folder)
    paths = {key: _find_file(folder, name) for key, name in FASHION_MNIST_FILES.items()}
    missing = [FASHION_MNIST_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files missing in {folder}/ (or {folder}/fashion-mnist/): {', '.join(missing)}. "
            "Run helpers.datasets.download_fashion_mnist() or copy them there by hand."
        )
    out = []
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"])
        labels = read_idx(paths[f"{split}_labels"])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{paths[f'{split}_images']} / {paths[f'{split}_labels']}: expected images (N, rows, cols) "
                f"and labels (N,), got {images.shape} and {labels.shape}"
            )
        out += [images.reshape(len(images), -1).astype(np.float64) / 255.0, labels.astype(np.int64)]
    X_train, y_train, X_test, y_test = out
    return X_train, y_train, X_test, y_test


def _fetch(url: str, dest: Path, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file next to ``dest``, check it, then rename it into place.

    The rename is atomic, so an interrupted download never leaves a
    half-written file that a later run would mistake for a good one.
    """
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress and total:
                    print(f"\r  {dest.name}: {done / 2**20:6.1f} / {total / 2**20:.1f} MiB", end="", file=sys.stderr)
        if progress:
            print(f"\r  {dest.name}: {done / 2**20:6.1f} MiB, done" + " " * 10, file=sys.stderr)
        if total and done != total:
            raise ValueError(f"got {done} bytes, the server announced {total}")
        read_idx(tmp)  # an error page saved under the right name would otherwise pass as data
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download_fashion_mnist(
    folder: str | os.PathLike = "data",
    base_url: str = FASHION_MNIST_URL,
    progress: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the four Fashion-MNIST files into ``folder``; returns their paths.

    Files already present (in ``folder`` or ``folder/fashion-mnist``) are not
    fetched again. Each file is written under a temporary name and renamed
    only once it has arrived whole and parses as IDX. Raises RuntimeError
    naming the URL if a download fails.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in FASHION_MNIST_FILES.values():
        present = _find_file(folder, name)
        if present is not None:
            if progress:
                print(f"  {present}: already present, skipped", file=sys.stderr)
            paths.append(present)
            continue
        url = base_url.rstrip("/") + "/" + name
        dest = folder / name
        try:
            _fetch(url, dest, progress, timeout)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RuntimeError(
                f"could not download {url}: {err}. Check your connection, or download the four files "
                f"({', '.join(FASHION_MNIST_FILES.values())}) by hand into {folder}/."
            ) from err
        paths.append(dest)
    return paths


# ---------------------------------------------------------------------------
# Digits (offline)
# ---------------------------------------------------------------------------

def load_digits_split(
    test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8 x 8 digits, split with the class proportions kept.

    -> X_train (N, 64), y_train (N,), X_test (M, 64), y_test (M,);
    X float64 in [0, 1] (the raw values are 0..16), y int64 in 0..9.
    With the defaults N = 1347, M = 450.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return X_train, y_train, X_test, y_test


# ---------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    name: str
    X_train: np.ndarray  # (N, d) float64 in [0, 1]
    y_train: np.ndarray  # (N,) int64
    X_test: np.ndarray  # (M, d)
    y_test: np.ndarray  # (M,)
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.X_train.shape[1]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: train {self.X_train.shape}, test {self.X_test.shape}, "
            f"{self.num_classes} classes)"
        )


_ALIASES = {"fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist",
            "digits": "digits", "auto": "auto"}


def load_dataset(name: str = "auto", folder: str | os.PathLike = "data") -> Dataset:
    """Load ``"fashion-mnist"``, ``"digits"`` or ``"auto"``.

    ``"auto"`` picks Fashion-MNIST if its four files are in ``folder`` and the
    digits (always available offline) otherwise.
    """
    key = _ALIASES.get(name.lower())
    if key is None:
        raise ValueError(f"unknown data set {name!r}; choose 'auto', 'fashion-mnist' or 'digits'")
    if key == "auto":
        key = "fashion-mnist" if fashion_mnist_present(folder) else "digits"
    if key == "fashion-mnist":
        X_train, y_train, X_test, y_test = load_fashion_mnist(folder)
    else:
        X_train, y_train, X_test, y_test = load_digits_split()
    return Dataset(key, X_train, y_train, X_test, y_test, num_classes=10)
