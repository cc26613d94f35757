"""What a tester notebook cell calls: run one check in this kernel and show it.

    check("item")                  # visible: handout fixture vs PyTorch
    check("item", seed=7, N=3)     # new inputs, as hidden tests do

A check of library code runs the student's ``mytorch`` from the notebook's
folder the way the grader will: each file held to the course's rules first
(a file that breaks them is not run, and the message says which items that
costs), the package rebuilt around the files that can run, so a broken file
costs only its own items.  A check of notebook code (``runs="cell"``) runs
what the notebook's cells have defined in this kernel (IPython's namespace
is ``__main__``): the student runs the solution cell, then its test cell.

A failing check raises :class:`CheckFailed`, which IPython shows as the
verdict, the student's own frames and the line that tries the same check on
fresh random inputs: never a traceback into the kit.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import linecache
import random
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

import numpy as np

from coursekit.runtime.checks import Arrays, Check, as_array, default_fixture, fixture_case, get, shipped_facts
from coursekit.runtime.checks.library import (MAX_LIBRARY_FILE, builds_on, file_sets, imported, package_sources,
                                      shown_path, source_problems, suspects_note, write_package)


class CheckFailed(AssertionError):
    """A check did not pass.  ``str()`` is the verdict; IPython shows :meth:`lines`."""

    def __init__(self, message: str, frames: list[str] | None = None, retry: str = ""):
        super().__init__(message)
        self.message, self.frames, self.retry = message, list(frames or []), retry

    def lines(self) -> list[str]:
        out = [f"FAIL {self.message}"]
        if self.frames:
            out += ["in your code:"] + self.frames
        if self.retry:
            out.append(self.retry)
        return out

    def _render_traceback_(self) -> list[str]:  # IPython's hook: this replaces the traceback
        return self.lines()


@dataclass
class Outcome:
    """One case of one check: passed or not, why, and where in the student's code it raised."""

    ok: bool
    message: str
    outputs: Arrays | None = None
    frames: list[str] = field(default_factory=list)


# --- the student's work, as the release describes it ---------------------------------------------


@dataclass(frozen=True)
class Work:
    """The assignment's facts shipped with the release (``coursekit/runtime/checks/assignment.json``)."""

    package: str
    modules: tuple[str, ...]
    student_files: tuple[str, ...]
    items: dict[str, dict]
    stubs: dict[str, str]

    @classmethod
    def shipped(cls) -> Work | None:
        facts = shipped_facts()
        if not isinstance(facts.get("items"), list) or not isinstance(facts.get("stubs"), dict):
            return None  # not a release (the kit's own tests): import the library as it is
        return cls(facts.get("package") or "mytorch", tuple(facts.get("modules") or ("numpy",)),
                   tuple(facts.get("student_files") or ()), {i["grade_id"]: i for i in facts["items"]},
                   facts["stubs"])

    def costs(self, rel: str) -> str:
        """Which items a broken file costs at grading, in a sentence."""
        items = [(g, i["points"]) for g, i in self.items.items() if rel in i.get("files", ())]
        points = sum(p for _, p in items)
        return (f"at grading {rel} is not run: it costs {', '.join(g for g, _ in items)} "
                f"({points:g} point{'s' if points != 1 else ''})")

    def read(self, folder: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
        """The student files' texts, and why each unusable one cannot run (as the grader says it)."""
        texts: dict[str, str] = {}
        problems: dict[str, list[str]] = {}
        for rel in self.student_files:
            path = folder / rel
            try:
                if path.stat().st_size > MAX_LIBRARY_FILE:
                    problems[rel] = [f"{rel}: larger than {MAX_LIBRARY_FILE >> 20} MiB"]
                    continue
                texts[rel] = path.read_bytes().decode("utf-8")
            except FileNotFoundError:
                problems[rel] = [f"{rel}: missing (restore it from the release)"]
                continue
            except UnicodeDecodeError as err:
                problems[rel] = [f"{rel}: not UTF-8 text (byte {err.start}); save the file as UTF-8"]
                continue
            except OSError as exc:
                problems[rel] = [f"{rel}: cannot be read ({exc.strerror or exc})"]
                continue
            found = source_problems(texts[rel], rel, self.modules, self.package)
            if found:
                problems[rel] = found
        return texts, problems

    def cell_problems(self, grade_id: str, folder: Path) -> list[str]:
        """The policy applied to the item's notebook cell as last saved (what the grader will read)."""
        item = self.items.get(grade_id, {})
        if not item.get("cell"):
            return []
        where = f"{item['notebook']}.ipynb, cell {item['cell']}"
        source = saved_cell(folder / f"{item['notebook']}.ipynb", item["cell"])
        if source is None:
            return []  # not saved yet: the kernel's own code is all there is to check
        return [f"{p} (as last saved)" for p in source_problems(source, where, self.modules, self.package)]


def saved_cell(path: Path, grade_id: str) -> str | None:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and meta.get("grade_id") == grade_id:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


# --- running the student's code ----------------------------------------------------------------


def load_mytorch() -> Any:
    """Import the student's library (``mytorch``, or the package the assignment names) from the
    notebook's folder, fresh each time (plots and demos use this).

    If it does not import as it is, the files that break the rules are replaced by their released
    stubs, as the grader replaces them, so that one broken file does not stop every plot."""
    package = shipped_facts().get("package") or "mytorch"
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    try:
        return importlib.import_module(package)
    except Exception as exc:
        work = Work.shipped()
        if work is None:
            raise
        texts, problems = work.read(Path.cwd())
        if not problems:
            raise
        sources = package_sources(work.student_files, texts, work.stubs,
                                  [rel for rel in work.student_files if rel not in problems])
        folder = tempfile.TemporaryDirectory(prefix="coursekit-lib-")
        _KEPT.append(folder)  # the modules' files stay readable (tracebacks) until Python exits
        write_package(Path(folder.name), sources)
        sys.path.insert(0, folder.name)
        try:
            lib = importlib.import_module(package)
        except Exception:
            raise exc from None
        finally:
            sys.path.remove(folder.name)
        print(f"note: {package} does not import as it is ({_described(exc, package)}); here, as at grading, "
              f"{', '.join(problems)} {'is' if len(problems) == 1 else 'are'} replaced by the released stub")
        return lib


_KEPT: list[tempfile.TemporaryDirectory] = []


def notebook_namespace() -> Any:
    """What the notebook's cells have defined: the kernel's ``__main__`` (IPython runs every cell there)."""
    return sys.modules["__main__"]


class _Unusable(Exception):
    """The student's code for this item cannot run at all (rules, import); the message says why."""

    def __init__(self, message: str, frames: list[str] | None = None):
        super().__init__(message)
        self.message, self.frames = message, frames or []


@contextlib.contextmanager
def student_code(check: Check, work: Work | None, folder: Path | None = None,
                 namespace: Any = None) -> Iterator[Any]:
    """What the check's ``run`` is given — the notebook's namespace (``namespace``, else the
    kernel's) or the library, built as the grader builds it — for the duration of the block."""
    folder = Path(folder or Path.cwd())
    if check.runs == "cell":
        problems = work.cell_problems(check.grade_id, folder) if work else []
        if problems:
            raise _Unusable("; ".join(problems))
        yield namespace if namespace is not None else notebook_namespace()
        return
    if work is None or check.grade_id not in work.items:
        yield load_mytorch()
        return
    files = work.items[check.grade_id].get("files", [])
    texts, problems = work.read(folder)
    mine = [p + f"\n{work.costs(rel)}" for rel in files for p in problems.get(rel, [])[:1]]
    if mine:
        raise _Unusable("\n".join(mine))
    usable = [rel for rel in work.student_files if rel not in problems]
    failure = _Unusable(f"importing {work.package} failed")
    for use in file_sets(usable, files):
        with contextlib.ExitStack() as stack:
            try:
                lib = stack.enter_context(imported(work.package, package_sources(work.student_files, texts,
                                                                                  work.stubs, use)))
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's module code raised
                failure = _Unusable(f"importing {work.package} failed: {_described(exc, work.package)}",
                                    student_frames(exc, work.package))
                continue
            yield lib
            return
    raise failure


def run_cases(check: Check, cases: Iterable[tuple[Arrays, Arrays]], work: Work | None,
              folder: Path | None = None, namespace: Any = None) -> Iterator[Outcome]:
    """Run the student's code on each case (inputs, reference) and judge it, as the grader would:
    the code built once for all of them, as the grader builds it once per item.  Code that cannot
    run at all gives one outcome saying why."""
    package = work.package if work else "mytorch"
    try:
        with student_code(check, work, folder, namespace) as code:
            for inputs, reference in cases:
                yield _judged(check, code, inputs, reference, package)
    except _Unusable as exc:
        yield Outcome(False, exc.message, frames=exc.frames)


def run_case(check: Check, inputs: Arrays, reference: Arrays, work: Work | None,
             folder: Path | None = None, namespace: Any = None) -> Outcome:
    """One case of :func:`run_cases`."""
    return next(run_cases(check, [(inputs, reference)], work, folder, namespace))


def _judged(check: Check, code: Any, inputs: Arrays, reference: Arrays, package: str) -> Outcome:
    try:
        with np.errstate(all="ignore"):
            outputs = check.run(code, inputs)
    except NotImplementedError:
        return Outcome(False, f"{check.title}: not implemented yet")
    except AttributeError as exc:
        if check.runs == "cell" and getattr(exc, "obj", None) is code:
            return Outcome(False, f"{check.title}: {exc.name} is not defined in this notebook yet "
                                  "(run the cell that defines it first)")
        return Outcome(False, _raised(check, exc, package), frames=student_frames(exc, package))
    except Exception as exc:  # noqa: BLE001 - any student error is reported, not raised
        return Outcome(False, _raised(check, exc, package), frames=student_frames(exc, package))
    try:
        verdict = check.verdict(outputs, reference, inputs)
    except Exception as exc:  # noqa: BLE001 - an answer too odd to compare is wrong, not a crash
        return Outcome(False, f"{check.title}: the result could not be compared ({type(exc).__name__}: {exc})")
    return Outcome(verdict.ok, verdict.message, outputs)


def _raised(check: Check, exc: BaseException, package: str) -> str:
    return f"{check.title} raised {_described(exc, package)}"


def _described(exc: BaseException, package: str) -> str:
    """``TypeError: … (mytorch/nn/loss.py, line 12)``: the error and the last line of the
    student's library it passed through."""
    where = [f for f in traceback.extract_tb(exc.__traceback__) if shown_path(f.filename, package)]
    if isinstance(exc, SyntaxError) and exc.filename and shown_path(exc.filename, package):
        return f"SyntaxError: {exc.msg} ({shown_path(exc.filename, package)}, line {exc.lineno})"
    at = f" ({shown_path(where[-1].filename, package)}, line {where[-1].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def student_frames(exc: BaseException, package: str) -> list[str]:
    """The traceback's frames in the student's own code (library files, notebook cells), as text."""
    lines = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        code = frame.f_code
        shown = shown_path(code.co_filename, package)
        if shown is None and frame.f_globals.get("__name__") == "__main__":
            shown = "your notebook cell"
        if shown is None:
            continue
        text = linecache.getline(code.co_filename, lineno).strip()
        lines.append(f"  {shown}, line {lineno}, in {code.co_name}" + (f"\n    {text}" if text else ""))
    return lines


# --- the notebook's call -----------------------------------------------------------------------


def check(grade_id: str, seed: int | None = None, fixture: str | Path | None = None, **shape: int) -> None:
    """Run one check; print a comparison (visible case) or one line (seeded case).

    Raises CheckFailed if the student's output does not match."""
    __tracebackhide__ = True  # pytest and IPython then show the message, not the kit's frames
    c = get(grade_id)
    work = Work.shipped()
    if seed is None:
        inputs, reference = fixture_case(grade_id, fixture or default_fixture())
    else:
        inputs = c.inputs(seed, **shape)
        reference = c.reference(inputs) if c.reference else {}
    outcome = run_case(c, inputs, reference, work)
    if seed is None and outcome.outputs is not None:
        print(render(c, outcome.outputs, reference))
    if not outcome.ok:
        message = f"{grade_id}: {outcome.message}"
        note = _suspects(c, work)
        raise CheckFailed(message + (f"\n{note}" if note else ""), outcome.frames,
                          retry_line(c, seed if seed is not None else None, shape))
    print(f"PASS {grade_id}: {outcome.message}")
    for note in advice(c, work):
        print(f"advice ({grade_id}): {note}")


def _suspects(c: Check, work: Work | None) -> str:
    """Which items this one builds on fail their own visible case too."""
    if work is None or c.grade_id not in work.items:
        return ""
    files = {g: i.get("files", []) for g, i in work.items.items() if not i.get("manual")}
    failing = []
    for other in builds_on(files, c.grade_id):
        try:
            inputs, reference = fixture_case(other, default_fixture())
            if not run_case(get(other), inputs, reference, work).ok:
                failing.append(other)
        except Exception:  # noqa: BLE001 - a hint, never a second failure
            continue
    return suspects_note(failing)


def retry_line(c: Check, seed: int | None, shape: dict[str, int]) -> str:
    """The one line that runs this check on fresh random inputs (or again on the same ones)."""
    if seed is not None:
        args = "".join(f", {k}={v!r}" for k, v in shape.items())
        return f'Run it again: check("{c.grade_id}", seed={seed}{args}); any other seed gives new inputs.'
    names = shape_names(c)
    dims = f"  (choose shapes with {', '.join(f'{n}=' for n in names)})" if names else ""
    return f'Try it on fresh random inputs: check("{c.grade_id}", seed={random.randrange(1, 10_000)}){dims}'


def shape_names(c: Check) -> list[str]:
    """The keyword arguments a check's inputs take (``N``, ``d``, …), found by asking its input maker."""

    class Asked(dict):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __contains__(self, key: object) -> bool:
            self.names.append(str(key))
            return False

        def get(self, key: str, default: Any = None) -> Any:
            self.names.append(str(key))
            return default

    asked = Asked()
    try:
        c.make_inputs(np.random.default_rng(0), asked)
    except Exception:  # noqa: BLE001 - only a hint
        pass
    return list(dict.fromkeys(asked.names))


def advice(c: Check, work: Work | None = None) -> list[str]:
    """Robustness notes on extreme inputs: reported, never deducted."""
    notes = []
    work = work or Work.shipped()
    for description, make in c.advice:
        inputs = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outcome = run_case(c, inputs, c.reference(inputs), work)
            except Exception as exc:  # noqa: BLE001 - advice never fails a check
                outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        if not outcome.ok:
            notes.append(f"with {description}: {outcome.message}")
    return notes


def _show_array(a: np.ndarray, opts: dict) -> str:
    # A 256 x 512 weight matrix is read by its statistics, not its entries.
    if a.size > 400:
        return (f"shape {a.shape}: mean {a.mean():.4f}, std {a.std():.4f}, "
                f"min {a.min():.4f}, max {a.max():.4f}")
    return np.array2string(a, **opts)


def render(c: Check, outputs: Arrays, reference: Arrays, shown: dict[str, str] | None = None) -> str:
    """MyTorch next to the stored PyTorch result and the norm of their difference.

    ``shown``: the reference's arrays as text by name, filled in here; a caller that renders
    the same reference again (the grader, once per student) passes the same dict."""
    opts = dict(precision=4, suppress_small=True, max_line_width=100)
    shown = {} if shown is None else shown
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
            if name not in shown:
                shown[name] = _show_array(want, opts)
            lines.append("PyTorch:\n" + shown[name])
            if mine.size == want.size:
                diff = np.linalg.norm(mine.reshape(-1) - want.reshape(-1))
                lines.append(f"||MyTorch - PyTorch|| = {diff:.3e}")
    return "\n".join(lines)
