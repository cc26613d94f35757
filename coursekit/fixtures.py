"""Regenerate the fixture file an assignment's tester notebooks load (its ``fixture``).

The file holds the handout arrays (the checks module's ``base_arrays()``, if
it has one) and, for every check, the inputs of its visible case
(``fixture_inputs(grade_id, base)``, else the check's own inputs at seed 0)
and the outputs its reference (PyTorch, where there is one) gives on them.

Reproducible to a stated tolerance, not to the byte: BLAS rounds the last
bit differently on different CPUs, so a matrix product (PyTorch's expected
outputs, and inputs such as ``Z = X @ W + b``) can differ there from one
machine to the next.  Names, shapes and dtypes must match exactly, integer
arrays too; float arrays to ``RTOL``/``ATOL``, a million times tighter than
the checks' own tolerance (1e-6), so no student verdict can depend on it.
On one machine the file is byte-for-byte reproducible (fixed order and
timestamps), and regenerating keeps the stored file when it is still within
tolerance, so moving between machines never dirties the repo.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from coursekit.assignment import Assignment
from coursekit.runtime.checks import load_module


def build(assignment: Assignment, course_dir: Path) -> dict[str, np.ndarray]:
    module = load_module(Path(course_dir) / assignment.checks)
    arrays = dict(module.base_arrays()) if hasattr(module, "base_arrays") else {}
    for grade_id, check in module.checks.items():
        inputs = module.fixture_inputs(grade_id, arrays) if hasattr(module, "fixture_inputs") else check.inputs(0)
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


RTOL = 1e-12
ATOL = 1e-12


def differences(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray]) -> list[str]:
    """Why two fixture sets are not the same within the documented tolerance ([] if they are)."""
    found = [f"{k}: only in the stored file" for k in sorted(set(stored) - set(fresh))]
    found += [f"{k}: only in the regenerated arrays" for k in sorted(set(fresh) - set(stored))]
    for key in sorted(set(stored) & set(fresh)):
        a, b = np.asarray(stored[key]), np.asarray(fresh[key])
        if a.shape != b.shape or a.dtype != b.dtype:
            found.append(f"{key}: {a.dtype}{list(a.shape)} stored, {b.dtype}{list(b.shape)} regenerated")
        elif a.dtype.kind == "f":
            if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
                found.append(f"{key}: values differ by up to {np.max(np.abs(a - b)):.3g}")
        elif not np.array_equal(a, b):
            found.append(f"{key}: values differ")
    return found


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: np.array(data[k]) for k in data.files}


def regenerate(assignment: Assignment, course_dir: Path, path: Path | None = None) -> tuple[Path, bool]:
    """Write the fixtures (to the declared file, or ``path``); (path, False) if the stored file
    was kept, being within tolerance."""
    path = Path(path) if path is not None else Path(course_dir) / assignment.fixture
    arrays = build(assignment, course_dir)
    if path.is_file() and not differences(load(path), arrays):
        return path, False
    write_npz(path, arrays)
    return path, True

