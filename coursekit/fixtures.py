"""Regenerate the fixtures the tester notebooks load (``data/testerData.npz``).

The file holds the handout arrays (W, b, X, Y, dLdZ) and, for every check,
the inputs of its visible case and the outputs PyTorch gives on them.  It is
written byte-for-byte reproducibly, so a regenerated file can be diffed.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from coursekit.checks import REGISTRY, _load_assignments
from coursekit.checks.hw1 import base_arrays, fixture_inputs


def build() -> dict[str, np.ndarray]:
    _load_assignments()
    arrays = dict(base_arrays())
    for grade_id, check in REGISTRY.items():
        inputs = fixture_inputs(grade_id, arrays)
        expected = check.reference(inputs) if check.reference else {}
        arrays |= {f"inputs__{grade_id}__{k}": v for k, v in inputs.items()}
        arrays |= {f"expected__{grade_id}__{k}": v for k, v in expected.items()}
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez, but with fixed timestamps and order so equal arrays give equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


def regenerate(path: Path | str = Path("data") / "testerData.npz") -> Path:
    path = Path(path)
    write_npz(path, build())
    return path


if __name__ == "__main__":
    print(f"wrote {regenerate()}")
