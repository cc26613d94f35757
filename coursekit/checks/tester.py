"""What a tester notebook cell calls: run one check in this kernel and show it.

    check("item")                  # visible: handout fixture vs PyTorch
    check("item", seed=7, N=3)     # new inputs, as hidden tests do

A check of library code runs the student's ``mytorch`` from the notebook's
folder, freshly imported; a check of notebook code (``runs="cell"``) runs
what the notebook's cells have defined in this kernel (IPython's namespace
is ``__main__``): the student runs the solution cell, then its test cell.
"""
from __future__ import annotations

import importlib
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from coursekit.checks import Arrays, Check, as_array, default_fixture, fixture_case, get, shipped_facts


class CheckFailed(AssertionError):
    """A check did not pass; the message says why."""


def load_mytorch() -> Any:
    """Import the student's library (``mytorch``, or the package the assignment names) from the
    notebook's folder, fresh each time."""
    package = shipped_facts().get("package") or "mytorch"
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    return importlib.import_module(package)


def notebook_namespace() -> Any:
    """What the notebook's cells have defined: the kernel's ``__main__`` (IPython runs every cell there)."""
    return sys.modules["__main__"]


def student_code(check: Check) -> Any:
    """What the check's ``run`` is given: the notebook's namespace, or the library."""
    return notebook_namespace() if check.runs == "cell" else load_mytorch()


def run_student(check: Check, inputs: Arrays) -> Arrays:
    """Run the student's code; errors become one readable CheckFailed."""
    code = None
    try:
        code = student_code(check)
        with np.errstate(all="ignore"):
            return check.run(code, inputs)
    except NotImplementedError:
        raise CheckFailed(f"{check.title}: not implemented yet") from None
    except AttributeError as exc:
        if check.runs == "cell" and getattr(exc, "obj", None) is code:
            raise CheckFailed(f"{check.title}: {exc.name} is not defined in this notebook yet "
                              "(run the cell that defines it first)") from None
        raise CheckFailed(_raised(check, exc)) from None
    except Exception as exc:  # noqa: BLE001 - any student error is reported, not raised
        raise CheckFailed(_raised(check, exc)) from None


def _raised(check: Check, exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{check.title} raised {type(exc).__name__}: {exc} ({Path(where.filename).name}, line {where.lineno})"


def check(grade_id: str, seed: int | None = None, fixture: str | Path | None = None, **shape: int) -> None:
    """Run one check; print a comparison (visible case) or one line (seeded case).

    Raises CheckFailed if the student's output does not match."""
    __tracebackhide__ = True  # IPython then shows the message, not the kit's frames
    c = get(grade_id)
    if seed is None:
        inputs, reference = fixture_case(grade_id, fixture or default_fixture())
    else:
        inputs = c.inputs(seed, **shape)
        reference = c.reference(inputs) if c.reference else {}
    outputs = run_student(c, inputs)
    verdict = c.verdict(outputs, reference, inputs)
    if seed is None:
        print(render(c, outputs, reference))
    print(f"{'PASS' if verdict.ok else 'FAIL'} {grade_id}: {verdict.message}")
    if not verdict.ok:
        raise CheckFailed(f"{grade_id}: {verdict.message}")
    for note in advice(c):
        print(f"advice ({grade_id}): {note}")


def advice(c: Check) -> list[str]:
    """Robustness notes on extreme inputs: reported, never deducted."""
    notes = []
    for description, make in c.advice:
        inputs = make()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                verdict = c.verdict(run_student(c, inputs), c.reference(inputs), inputs)
        except CheckFailed as exc:
            notes.append(f"with {description}: {exc}")
            continue
        if not verdict.ok:
            notes.append(f"with {description}: {verdict.message}")
    return notes


def _show_array(a: np.ndarray, opts: dict) -> str:
    # A 256 x 512 weight matrix is read by its statistics, not its entries.
    if a.size > 400:
        return (f"shape {a.shape}: mean {a.mean():.4f}, std {a.std():.4f}, "
                f"min {a.min():.4f}, max {a.max():.4f}")
    return np.array2string(a, **opts)


def render(c: Check, outputs: Arrays, reference: Arrays) -> str:
    """MyTorch next to the stored PyTorch result and the norm of their difference."""
    opts = dict(precision=4, suppress_small=True, max_line_width=100)
    lines = [f"== {c.title} =="]
    for name in reference or outputs:
        lines.append(f"-- {name} --")
        try:
            mine = as_array(outputs.get(name))
        except ValueError as exc:
            lines.append(f"MyTorch: {exc}")
            continue
        lines.append("MyTorch:\n" + _show_array(mine, opts))
        if name in reference:
            want = reference[name]
            lines.append("PyTorch:\n" + _show_array(want, opts))
            if mine.size == want.size:
                diff = np.linalg.norm(mine.reshape(-1) - want.reshape(-1))
                lines.append(f"||MyTorch - PyTorch|| = {diff:.3e}")
    return "\n".join(lines)
