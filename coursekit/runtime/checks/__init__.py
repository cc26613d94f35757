"""Checks of students' work, written once.

A check is "run the student's code on these inputs, compare with this
reference".  The three parts are kept apart on purpose so that the same
check serves three callers:

* the visible tester cell (``check("item")``: stored fixture
  inputs, stored and live PyTorch references, a table the student can read);
* the hidden block of the same cell (``check("item", seed=7, N=3)``:
  inputs the student never saw);
* the out-of-process grader, which runs only :attr:`Check.run` in a sandboxed
  child and compares the plain arrays it hands back itself.

What ``run`` is given as student code depends on :attr:`Check.runs`:

* ``"library"`` (the default): the students' library package (``mytorch``);
* ``"cell"``: the code of a notebook solution cell, for an item declared with
  ``cell = "<grade id of the cell>"``.  ``run`` gets a module-like namespace
  and calls what the cell defines (``lambda nb, x: {"g": nb.grad(x["x"])}``):
  in the notebook that is the kernel's own namespace (``__main__``, where
  IPython runs every cell); in the grader it is a module made of that one
  cell's source, run on its own in the sandbox — so the cell must import
  what it uses itself, and nothing from other cells is there.

This package is shipped to students next to their notebooks, so it imports
nothing but numpy and the standard library at import time; PyTorch is
imported only when a reference is computed.
"""
from __future__ import annotations

import builtins
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from collections.abc import Callable, Mapping

import numpy as np

Arrays = dict[str, np.ndarray]

RUNS = ("library", "cell")  # what a check's run is given: the library package, or a notebook cell's namespace
RTOL = 1e-6
ATOL = 1e-8


@dataclass(frozen=True)
class Verdict:
    """A check's judgement.  ``message`` is the full diagnosis (values, shapes) for a case the
    student can see; ``category`` the same failure named without any value (``"dW: wrong
    values"``), which is all a hidden case may say.  A compare function that gives none
    falls back to :data:`WRONG`."""

    ok: bool
    message: str
    category: str = ""

    @property
    def public(self) -> str:
        """What a hidden case may say about this verdict."""
        return public_category(self.category, named=True)


@dataclass(frozen=True)
class Check:
    """One graded item.

    ``run(mytorch, inputs)`` is the only part that executes student code
    (``run(namespace, inputs)`` for a check with ``runs="cell"``).
    ``reference(inputs)`` computes the expected outputs without it.
    ``flat`` names outputs compared by value only (``b``, ``dLdb``: a ``(1, h)``
    bias is not wrong). ``compare`` replaces the array comparison where the
    answer is a property, not a value (random initialisation).
    """

    grade_id: str
    title: str
    make_inputs: Callable[[np.random.Generator, Mapping[str, int]], Arrays]
    run: Callable[[Any, Arrays], Arrays]
    reference: Callable[[Arrays], Arrays] | None = None
    flat: frozenset[str] = frozenset()
    compare: Callable[[Arrays, Arrays], Verdict] | None = None
    rtol: float = RTOL
    atol: float = ATOL
    # Extreme inputs reported to the student as advice, never deducted.
    advice: tuple[tuple[str, Callable[[], Arrays]], ...] = field(default=())
    # "library": run gets the library package; "cell": the namespace of the item's notebook cell.
    runs: str = "library"

    def __post_init__(self) -> None:
        if self.runs not in RUNS:
            raise ValueError(f"check {self.grade_id!r}: runs must be one of {', '.join(RUNS)}, not {self.runs!r}")

    def inputs(self, seed: int, **shape: int) -> Arrays:
        return self.make_inputs(np.random.default_rng(seed), shape)

    def verdict(self, outputs: Arrays, reference: Arrays, inputs: Arrays) -> Verdict:
        if self.compare is not None:
            return self.compare(outputs, inputs)
        return compare_arrays(outputs, reference, self.flat, self.rtol, self.atol)


def as_array(value: Any) -> np.ndarray:
    """What a student returned, as a float64 array; raises ValueError if it is not numeric."""
    if value is None:
        raise ValueError("got None (did the method forget to return?)")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not numeric: {type(value).__name__}") from exc
    return arr


def compare_arrays(outputs: Mapping[str, Any], reference: Arrays, flat: frozenset[str] = frozenset(),
                   rtol: float = RTOL, atol: float = ATOL) -> Verdict:
    """Every reference array must be matched in shape (or size, for ``flat`` names) and value.

    The category names the output (the check's own name for it) and what is wrong, never a value."""
    for name, want in reference.items():
        if name not in outputs:
            return Verdict(False, f"{name}: missing from the results", f"{name}: {MISSING}")
        try:
            got = as_array(outputs[name])
        except ValueError as exc:
            return Verdict(False, f"{name}: {exc}", f"{name}: {NOT_NUMERIC}")
        want = np.asarray(want, dtype=np.float64)
        if name in flat:
            got, want = got.reshape(-1), want.reshape(-1)
        if got.shape != want.shape:
            why, category = shape_cause(got.shape, want.shape)
            return Verdict(False, f"{name}: shape {got.shape}, expected {want.shape}{why}", f"{name}: {category}")
        if not np.isfinite(got).all():
            return Verdict(False, f"{name}: contains nan or inf", f"{name}: {NOT_FINITE}")
        err = np.abs(got - want)
        if not (err <= atol + rtol * np.abs(want)).all():
            message = f"{name}: values differ, max |difference| = {err.max():.3g}"
            if has_float32_precision(outputs[name], got, want):
                return Verdict(False, message + FLOAT32_MESSAGE, f"{name}: {WRONG_VALUES_FLOAT32}")
            return Verdict(False, message, f"{name}: {WRONG_VALUES}")
    return Verdict(True, "matches the reference", "passed")


# The likely cause of a wrong shape or of values a little off, where the arrays themselves tell it.
# The message (the visible case) adds a hint; the category (hidden cases) is fixed text.

FLOAT32_MESSAGE = (": the result has float32 precision (about 7 digits), float64 is expected "
                   "(an array made with dtype='f' or np.float32?)")
# How far off a float32 result may be and still be called float32's doing: float32 rounds at
# 6e-8 relative, a few operations in a row (or a difference of nearly equal numbers) lose a few
# digits more, at the scale of the numbers worked with, of order 1 in a network or the answer's
# own; a grossly wrong answer (zeros, a sign) is off by its whole size.
FLOAT32_SLACK = 1e-3


def shape_cause(got: tuple[int, ...], want: tuple[int, ...]) -> tuple[str, str]:
    """The message's hint and the category of a wrong shape: transposed, an axis of length 1
    too many or too few, or broadcast to something larger; else no hint."""
    got, want = tuple(got), tuple(want)
    if len(got) == len(want) == 2 and got == want[::-1]:
        return " (transposed?)", WRONG_SHAPE_TRANSPOSED
    if [n for n in got if n != 1] == [n for n in want if n != 1]:
        if len(got) > len(want):
            return " (an extra axis of length 1?)", WRONG_SHAPE_EXTRA_AXIS
        if len(got) < len(want):
            return " (an axis of length 1 missing?)", WRONG_SHAPE_MISSING_AXIS
    if np.prod(got) > np.prod(want) and set(got) <= set(want) | {1}:
        return (" (larger than expected: a column (n, 1) and a row (n,) or (1, n) broadcast against "
                "each other?)"), WRONG_SHAPE_BROADCAST
    return "", WRONG_SHAPE


def has_float32_precision(raw: Any, got: np.ndarray, want: np.ndarray) -> bool:
    """Whether values that differ from ``want`` look like a float32 computation of it: a float32
    (or float16) array, or float64 values that are all float32 numbers, not all simpler ones
    (zeros, small integers), where the reference's are not (the grader's harness hands answers
    over as float64); off by no more than float32's rounding at the scale of the numbers."""
    dtype = getattr(raw, "dtype", None)
    low = dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8
    if not low:
        with np.errstate(over="ignore"):
            low = (_exactly_in(got, np.float32) and not _exactly_in(got, np.float16)
                   and not _exactly_in(want, np.float32))
    scale = max(float(np.abs(want).max()) if want.size else 0.0, 1.0)
    return low and float(np.abs(got - want).max()) <= FLOAT32_SLACK * scale


def _exactly_in(values: np.ndarray, dtype: type) -> bool:
    return bool(np.array_equal(values.astype(dtype).astype(np.float64), values))


# --- what a hidden case may say ------------------------------------------------
# A hidden case's failure is told in these words only: each is fixed text (or an output name of
# the check's own, or a built-in exception's name), so no value of the case's inputs or of the
# expected outputs -- and nothing the student's code wrote, which can embed them -- reaches the
# student.  The visible case keeps its full message.

WRONG = "wrong answer"
MISSING = "missing from the results"
NOT_NUMERIC = "not numeric"
WRONG_SHAPE = "wrong shape"
NOT_FINITE = "contains nan or inf"
WRONG_VALUES = "wrong values"
NOT_IMPLEMENTED = "not implemented yet"
RAISED = "raised an exception"
IMPORT_FAILED = "the code did not import (or run)"
TIMED_OUT = "timed out (an endless loop?)"
OUT_OF_MEMORY = "ran out of memory"
CRASHED = "the process was killed or ended early"
TOO_LARGE = "sent more data than any answer needs"
TAMPERED = "answers were tampered with"
NO_ANSWER = "no answer"
NOT_COMPARABLE = "the answer could not be compared with the reference"
NOT_RUN = "not run (the visible case has no answer)"
# A wrong shape or wrong values with their likely cause, named without any value.
WRONG_SHAPE_TRANSPOSED = "wrong shape (transposed)"
WRONG_SHAPE_EXTRA_AXIS = "wrong shape (an extra axis of length 1)"
WRONG_SHAPE_MISSING_AXIS = "wrong shape (an axis of length 1 missing)"
WRONG_SHAPE_BROADCAST = "wrong shape (broadcast to a larger shape)"
WRONG_VALUES_FLOAT32 = "wrong values (float32 precision, float64 expected)"
CATEGORIES = frozenset({WRONG, MISSING, NOT_NUMERIC, WRONG_SHAPE, NOT_FINITE, WRONG_VALUES, NOT_IMPLEMENTED,
                        RAISED, IMPORT_FAILED, TIMED_OUT, OUT_OF_MEMORY, CRASHED, TOO_LARGE, TAMPERED,
                        NO_ANSWER, NOT_COMPARABLE, NOT_RUN, WRONG_SHAPE_TRANSPOSED, WRONG_SHAPE_EXTRA_AXIS,
                        WRONG_SHAPE_MISSING_AXIS, WRONG_SHAPE_BROADCAST, WRONG_VALUES_FLOAT32, "passed"})
# Exception classes Python itself defines: a student can name a class of their own after a value
# (``type(f"E{n}", (Exception,), {})``), so only these names are ever repeated.
BUILTIN_ERRORS = frozenset(name for name, value in vars(builtins).items()
                           if isinstance(value, type) and issubclass(value, BaseException))


def raised_category(exc_type: type) -> str:
    """How a hidden case names an exception: its type if Python defines it, never its message."""
    if issubclass(exc_type, NotImplementedError):
        return NOT_IMPLEMENTED
    name = getattr(exc_type, "__name__", "")
    if name in BUILTIN_ERRORS and getattr(builtins, name) is exc_type:
        return f"raised {name}"
    return RAISED


def public_category(category: object, named: bool = False) -> str:
    """``category`` if it is one of the words above, else :data:`WRONG`: the one gate every hidden
    case's reason passes, whoever made it (a compare function, the harness).

    ``named``: the category was written by the check's own code, which may put an output's name
    first (``"dW: wrong values"``); the harness's never do (student code runs where they are made)."""
    if not isinstance(category, str):
        return WRONG
    head, sep, tail = category.partition(": ")
    if named and sep and head.isidentifier() and len(head) <= 32 and public_category(tail) == tail:
        return category
    if category in CATEGORIES:
        return category
    if category.startswith("raised ") and category[len("raised "):] in BUILTIN_ERRORS:
        return category
    return WRONG


# --- what every checks module needs ------------------------------------------


def dim(shape: Mapping[str, Any], name: str, rng: np.random.Generator, lo: int = 1, hi: int = 9) -> int:
    """A dimension a hidden case fixed (``N=7``), else a random one in [lo, hi)."""
    return int(shape[name]) if name in shape else int(rng.integers(lo, hi))


def torch_module() -> Any:
    """PyTorch, imported only when a reference is computed (the grading harness never needs it)."""
    import torch

    return torch


def tensor(x: Any, grad: bool = False) -> Any:
    """``x`` as a float64 PyTorch tensor (with a gradient, if asked)."""
    return torch_module().tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def from_torch(t: Any) -> np.ndarray:
    """A tensor's values as a numpy array of their own."""
    return t.detach().numpy().copy()


# --- an assignment's checks -------------------------------------------------


class Checks(dict):
    """An assignment's checks by grade id; its checks module builds one named ``checks``."""

    def add(self, check: Check) -> Check:
        if check.grade_id in self:
            raise ValueError(f"duplicate check {check.grade_id!r}")
        self[check.grade_id] = check
        return check


_LOADED: dict[Path, tuple[tuple[int, int], ModuleType]] = {}


def load_module(path: Path | str) -> ModuleType:
    """Run an assignment's checks module (``source/<a>/checks.py``); again only once it changed."""
    path = Path(path).resolve()
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else (0, 0)
    if path not in _LOADED or _LOADED[path][0] != stamp:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no checks module")
        name = f"coursekit_checks_{path.parent.name}_{abs(hash(str(path))):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        if not isinstance(getattr(module, "checks", None), Checks):
            raise ValueError(f"{path}: defines no `checks = Checks()` registry")
        _LOADED[path] = (stamp, module)
    return _LOADED[path][1]


def load_checks(path: Path | str) -> Checks:
    return load_module(path).checks


def runs_mismatch(grade_id: str, check: Check, cell: str) -> str:
    """"" if ``check`` runs what its item declares (``cell``: a notebook cell, or "" for the
    library), else why not (the validator and the grader both refuse it)."""
    if (check.runs == "cell") == bool(cell):
        return ""
    says = f"runs cell {cell!r}" if cell else "runs library files"
    return (f"check {grade_id!r} has runs={check.runs!r}, but the item {says}; give the check "
            f"runs={'cell' if cell else 'library'!r}")


# Where a release (and the grading sandbox) puts the assignment's checks module.
SHIPPED = "coursekit.runtime.checks.assignment"


def get(grade_id: str) -> Check:
    """A check of the assignment shipped next to the notebooks (students, the grading harness)."""
    checks = importlib.import_module(SHIPPED).checks
    try:
        return checks[grade_id]
    except KeyError:
        raise KeyError(f"no check named {grade_id!r}; known: {', '.join(sorted(checks))}") from None


# --- fixtures ---------------------------------------------------------------

# The one fixture convention: data/<assignment>/testerData.npz (course content; see the declaration).
FIXTURE_NAME = "testerData.npz"
# Written by a release next to the shipped checks module: the assignment's name, library
# package and fixture, so that the student's copy of the kit needs no declaration.
FACTS = Path(__file__).resolve().parent / "assignment.json"


def shipped_facts() -> dict[str, str]:
    import json

    try:
        facts = json.loads(FACTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def fixture_of(assignment: str) -> str:
    """Where an assignment's fixture lives, relative to the course (and to its release)."""
    return f"data/{assignment}/{FIXTURE_NAME}"


def default_fixture() -> Path:
    """This assignment's fixture, as the release's facts name it."""
    fixture = shipped_facts().get("fixture")
    if not fixture:
        raise FileNotFoundError(f"{FACTS} names no fixture: run the notebook from the assignment's folder "
                                "(a release, or source/<assignment>/ after `course release`), or pass fixture=")
    return Path(fixture)


def fixture_case(grade_id: str, path: Path | str) -> tuple[Arrays, Arrays]:
    """Stored inputs and stored (PyTorch-made) expected outputs of a check's visible case."""
    with np.load(path, allow_pickle=False) as data:
        inputs = _section(data, f"inputs__{grade_id}__")
        expected = _section(data, f"expected__{grade_id}__")
    if not inputs:
        raise KeyError(f"{path} has no inputs for {grade_id!r}; regenerate the fixtures")
    return inputs, expected


def _section(data: Mapping[str, np.ndarray], prefix: str) -> Arrays:
    return {k[len(prefix):]: np.array(data[k]) for k in data if k.startswith(prefix)}
