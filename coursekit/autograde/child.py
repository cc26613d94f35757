"""The only program that runs student code during grading.

Run as ``python -I -B child.py WORKDIR`` inside the sandbox.  It imports the
student's library from WORKDIR/lib, runs the checks' ``run`` on each input in
WORKDIR/in, and writes plain arrays to WORKDIR/out (``.npz``, no pickles) or a
one-paragraph error.  It decides nothing: the grader compares the arrays
with its own references after this process is gone.  Standard library and
numpy only.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

MAX_ERROR = 2000
IMPORT_FAILED = "importing mytorch failed"


def main(workdir: Path) -> None:
    job = json.loads((workdir / "job.json").read_text())
    # -S left site-packages off the path: numpy alone is linked into site/.
    sys.path[:0] = [str(workdir / "lib"), str(workdir / "kit"), str(workdir / "site")]
    import numpy as np

    from coursekit.checks import get

    checks = {grade_id: get(grade_id) for grade_id in job["items"]}
    _block_imports(job["allowed_prefixes"])
    out = workdir / "out"
    # Everything before this line is the grader's; a crash there is not the student's fault.
    (out / "ready").write_text("")
    cases = [(grade_id, case) for grade_id, names in job["items"].items() for case in names]
    try:
        import mytorch
    except BaseException as exc:  # noqa: BLE001 - any failure is the student's to read
        for grade_id, case in cases:
            _error(out, f"{grade_id}.{case}", f"{IMPORT_FAILED}: {_describe(exc)}")
        return
    for grade_id, case in cases:
        name = f"{grade_id}.{case}"
        with np.load(workdir / "in" / f"{name}.npz", allow_pickle=False) as data:
            inputs = {k: data[k] for k in data.files}
        try:
            with np.errstate(all="ignore"):
                results = checks[grade_id].run(mytorch, inputs)
            arrays = {key: np.asarray(value, dtype=np.float64) for key, value in dict(results).items()}
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting early earns nothing
            _error(out, name, _describe(exc))
            continue
        np.savez(out / f"{name}.npz", **arrays)


def _block_imports(allowed: list[str]) -> None:
    """Refuse imports of anything outside numpy and the standard library from here on.

    Modules already imported stay importable; the source policy covers those."""
    stdlib = set(sys.stdlib_module_names)

    class Blocker:
        @staticmethod
        def find_spec(name, path=None, target=None):
            top = name.split(".")[0]
            if top in stdlib or any(name == p or name.startswith(p + ".") for p in allowed):
                return None
            raise ImportError(f"import of {name!r} is not allowed while grading MyTorch")

    sys.meta_path.insert(0, Blocker())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet ({exc})" if str(exc) else "not implemented yet"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/lib/mytorch/" in f.filename]
    where = f" ({frames[-1].filename.split('/lib/')[-1]}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:MAX_ERROR]


def _error(out: Path, case: str, message: str) -> None:
    (out / f"{case}.error").write_text(message[:MAX_ERROR])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
