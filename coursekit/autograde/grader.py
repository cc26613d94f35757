"""Grade one submission with every check run outside the student's reach.

For each graded item a fresh sandboxed child (``child.py``) imports a
library made of the student's files that the item uses, the released stubs
for the rest, and re-exporting ``__init__`` files of the grader's own.  The
child gets inputs and hands back plain arrays; this process — which never
imports student code — computes the references and decides the points.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from coursekit.assignment import Assignment, Item
from coursekit.autograde import sandbox
from coursekit.autograde.cases import Case, read_cases
from coursekit.autograde.child import IMPORT_FAILED
from coursekit.autograde.submission import Submission, check_notebooks, read_submission
from coursekit.checks import Arrays, Check, Verdict, fixture_case, get
from coursekit.checks.tester import render
from coursekit.course import Course, CourseError
from coursekit.release.stub import stub_source

KIT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "child.py"
MAX_RESULT_BYTES = 64 << 20


class GraderError(RuntimeError):
    """The grader itself failed: the submission is not scored rather than scored 0."""


@dataclass
class ItemResult:
    grade_id: str
    points: float
    max_points: int
    reason: str
    visible: str = ""
    advice: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    items: list[ItemResult]
    notes: list[str]
    fingerprint: str
    seconds: float = 0.0
    sandboxed: bool = True

    @property
    def score(self) -> float:
        return sum(i.points for i in self.items)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SubmissionResult":
        return cls(**{**data, "items": [ItemResult(**i) for i in data["items"]]})


@dataclass(frozen=True)
class GraderConfig:
    limits: sandbox.Limits = sandbox.Limits(wall_seconds=30, cpu_seconds=30, memory_bytes=2 << 30,
                                            max_processes=32, max_output_bytes=64 << 10,
                                            max_file_bytes=MAX_RESULT_BYTES)
    require_sandbox: bool = True
    use_sandbox: bool = True


class Grader:
    """Everything that is the same for every student, prepared once per worker."""

    def __init__(self, assignment: Assignment, course: Course, config: GraderConfig = GraderConfig()):
        self.assignment, self.course, self.config = assignment, course, config
        if config.require_sandbox and not (config.use_sandbox and sandbox.available()):
            raise sandbox.SandboxUnavailable(
                "grading needs the bubblewrap sandbox (apt-get install bubblewrap); "
                "--allow-unsandboxed grades with resource limits only")
        release = course.folder("release", assignment.name)
        if not release.is_dir():
            raise CourseError(f"{release} does not exist; run `course release {assignment.name}` first")
        self.cases = read_cases(assignment, course.folder("source", assignment.name))
        self.fixture = course.repo / "data" / "testerData.npz"
        self.stubs = {rel: stub_source((course.repo / rel).read_text(), rel) for rel in assignment.student_files}
        self.released_files = {str(p.relative_to(release)) for p in release.rglob("*")
                               if p.is_file() and "__pycache__" not in p.parts}
        self.released_cells = _graded_cells(assignment, release)
        # The same for every student: read the fixture and build the inputs once.
        self.visible = {i.grade_id: fixture_case(i.grade_id, self.fixture) for i in assignment.items}
        self.plans = {i.grade_id: self._plan(i) for i in assignment.items}
        self._references: dict[str, Arrays] = {}

    # -- one submission ---------------------------------------------------------

    def grade(self, student: str) -> SubmissionResult:
        start = time.monotonic()
        folder = self.course.folder("submitted", self.assignment.name, student)
        sub = read_submission(self.assignment, student, folder, self.released_files)
        if folder.is_dir():
            sub.notes.extend(check_notebooks(self.assignment, folder, self.released_cells))
        runnable = [item for item in self.assignment.items if not self._file_problems(item, sub)]
        # One child for the whole library is fast; any item it could not answer
        # (a hang, a crash, a file that breaks the import) is retried alone, with
        # only its own files, so one broken method costs only its own items.
        usable = tuple(rel for rel in self.assignment.student_files if rel not in sub.file_problems)
        answers, failure = self._run_child(runnable, sub, usable)
        for item in runnable:
            if not self._answered(item, answers):
                retry, why = self._run_child([item], sub, item.files)
                answers.update(retry)
                failure[item.grade_id] = why[item.grade_id]
        items = [self._result(item, sub, answers, failure.get(item.grade_id, ""))
                 for item in self.assignment.items]
        return SubmissionResult(student, self.assignment.name, items, sub.notes, fingerprint(folder),
                                time.monotonic() - start, self._sandboxed())

    def _file_problems(self, item: Item, sub: Submission) -> list[str]:
        return [p for rel in item.files for p in sub.file_problems.get(rel, [])]

    def _plan(self, item: Item) -> dict[str, tuple[Case | None, Arrays]]:
        """case name -> (case, inputs): the visible case, the hidden ones, then advice inputs."""
        check = get(item.grade_id)
        plan: dict[str, tuple[Case | None, Arrays]] = {}
        for k, case in enumerate(self.cases[item.grade_id]):
            plan["visible" if not case else f"hidden{k}"] = (case, self._inputs(check, case))
        for k, (_, make) in enumerate(check.advice):
            plan[f"advice{k}"] = (None, make())
        return plan

    def _answered(self, item: Item, answers: dict) -> bool:
        got = [answers.get(f"{item.grade_id}.{name}") for name in self.plans[item.grade_id]]
        return all(a is not None and not (isinstance(a, str) and a.startswith(IMPORT_FAILED)) for a in got)

    def _result(self, item: Item, sub: Submission, answers: dict, failure: str) -> ItemResult:
        plan = self.plans[item.grade_id]
        problems = self._file_problems(item, sub)
        if problems:
            return ItemResult(item.grade_id, 0, item.points, "; ".join(problems))
        check = get(item.grade_id)
        verdicts = {}
        for name, (case, inputs) in plan.items():
            answer = answers.get(f"{item.grade_id}.{name}")
            if isinstance(answer, str):
                verdicts[name] = Verdict(False, answer)
            elif answer is None:
                verdicts[name] = Verdict(False, failure or "no answer")
            else:
                verdicts[name] = check.verdict(answer, self._reference(check, name, case, inputs), inputs)
        visible_out = answers.get(f"{item.grade_id}.visible")
        shown = render(check, visible_out, self.visible[check.grade_id][1]) \
            if isinstance(visible_out, dict) else ""
        notes = [f"with {desc}: {verdicts[f'advice{k}'].message}" for k, (desc, _) in enumerate(check.advice)
                 if not verdicts[f"advice{k}"].ok]
        graded = [n for n in plan if not n.startswith("advice")]
        failed = [n for n in graded if not verdicts[n].ok]
        if not failed:
            return ItemResult(item.grade_id, item.points, item.points, "all checks passed", shown, notes)
        hidden = [n for n in graded if n != "visible"]
        name = failed[0]
        where = "visible case" if name == "visible" else f"hidden case {hidden.index(name) + 1} of {len(hidden)}"
        return ItemResult(item.grade_id, 0, item.points, f"{where}: {verdicts[name].message}", shown, notes)

    # -- parts ------------------------------------------------------------------------

    def _inputs(self, check: Check, case: Case) -> Arrays:
        if not case:
            return self.visible[check.grade_id][0]
        return check.inputs(**case)

    def _reference(self, check: Check, name: str, case: Case | None, inputs: Arrays) -> Arrays:
        if name == "visible":
            return self.visible[check.grade_id][1]
        key = f"{check.grade_id}.{name}"  # the same inputs for every student: compute once
        if key not in self._references:
            self._references[key] = check.reference(inputs) if check.reference else {}
        return self._references[key]

    def _run_child(self, items: list[Item], sub: Submission,
                   files: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
        """Answers by "<grade_id>.<case>" (arrays, or the error the child reported), and,
        per item, why answers are missing if the child stopped early."""
        if not items:
            return {}, {}
        with tempfile.TemporaryDirectory(prefix="coursekit-grade-") as tmp:
            work = Path(tmp)
            self._write_library(work / "lib", sub, files)
            self._write_kit(work / "kit")
            shutil.copy(CHILD, work / "child.py")
            (work / "site").mkdir()
            numpy_dir = Path(np.__file__).resolve().parent
            for path in (numpy_dir, numpy_dir.parent / "numpy.libs"):
                if path.exists():
                    (work / "site" / path.name).symlink_to(path)
            (work / "in").mkdir()
            (work / "out").mkdir()
            for item in items:
                for name, (_, arrays) in self.plans[item.grade_id].items():
                    np.savez(work / "in" / f"{item.grade_id}.{name}.npz", **arrays)
            (work / "job.json").write_text(json.dumps({
                "items": {item.grade_id: list(self.plans[item.grade_id]) for item in items},
                "allowed_prefixes": ["numpy", "mytorch"]}))
            result = sandbox.run(
                [_interpreter(), "-I", "-S", "-B", str(work / "child.py"), str(work)],
                scratch=work, hide=self._hidden(), read_only=self._visible(numpy_dir),
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                limits=self.config.limits, require_sandbox=self.config.require_sandbox,
                use_sandbox=self.config.use_sandbox)
            if not (work / "out" / "ready").exists() and not result.timed_out:
                raise GraderError(f"the grading child failed before running student code "
                                  f"(exit {result.returncode}): {result.stderr.strip()[-500:]}")
            answers = {f"{item.grade_id}.{name}": _read_answer(work / "out", f"{item.grade_id}.{name}")
                       for item in items for name in self.plans[item.grade_id]}
        why = _why_missing(result, self.config.limits)
        return {k: v for k, v in answers.items() if v is not None}, {item.grade_id: why for item in items}

    def _write_library(self, lib: Path, sub: Submission, files: tuple[str, ...]) -> None:
        """The student's files this item uses, stubs elsewhere, and re-exporting __init__ files."""
        packages: dict[str, set[str]] = {}
        for rel in self.assignment.student_files:
            text = sub.files[rel] if rel in files else self.stubs[rel]
            (lib / rel).parent.mkdir(parents=True, exist_ok=True)
            (lib / rel).write_text(text)
            module = rel[:-3].replace("/", ".")
            package, _, _ = module.rpartition(".")
            packages.setdefault(package, set()).add(module)
        top = sorted({p.split(".")[0] for p in packages})
        for package, modules in packages.items():
            # Star imports: a renamed or missing class costs only the items that use it.
            lines = [f"from {m} import *" for m in sorted(modules)]
            (lib / package.replace(".", "/") / "__init__.py").write_text("\n".join(lines) + "\n")
        for root in top:
            subs = sorted(p.split(".")[1] for p in packages if p.count(".") == 1 and p.startswith(root + "."))
            (lib / root / "__init__.py").write_text(f"from {root} import {', '.join(subs)}\n")

    def _write_kit(self, kit: Path) -> None:
        (kit / "coursekit" / "checks").mkdir(parents=True)
        (kit / "coursekit" / "__init__.py").write_text("")
        for name in ("__init__.py", f"{self.assignment.name}.py"):
            shutil.copy(KIT / "checks" / name, kit / "coursekit" / "checks" / name)

    def _hidden(self) -> list[Path]:
        hidden = {self.course.root, self.course.repo, Path(sys.prefix).resolve()}
        return sorted(hidden)

    def _visible(self, numpy_dir: Path) -> list[Path]:
        paths = [Path(sys.base_prefix).resolve(), numpy_dir, numpy_dir.parent / "numpy.libs"]
        return [p for p in paths if p.exists()]

    def _sandboxed(self) -> bool:
        return self.config.use_sandbox and sandbox.available()


def _interpreter() -> str:
    return str(Path(getattr(sys, "_base_executable", sys.executable)).resolve())


def _read_answer(out: Path, name: str) -> dict | str | None:
    """The child's arrays for one case, an error it reported, or None; never unpickles."""
    error, arrays = out / f"{name}.error", out / f"{name}.npz"
    if arrays.is_file() and not arrays.is_symlink():
        if arrays.stat().st_size > MAX_RESULT_BYTES:
            return "the result was too large"
        try:
            with np.load(arrays, allow_pickle=False) as data:
                return {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
        except Exception as exc:  # noqa: BLE001 - garbage written by the child earns nothing
            return f"unreadable result ({type(exc).__name__})"
    if error.is_file() and not error.is_symlink():
        return error.read_bytes()[:2000].decode("utf-8", "replace")
    return None


def _why_missing(result: sandbox.Result, limits: sandbox.Limits) -> str:
    if result.timed_out:
        return f"stopped after {limits.wall_seconds:g} s without answering (an endless loop?)"
    if result.returncode and result.returncode > 128:
        return f"the process was killed (signal {result.returncode - 128}; time or memory limit?)"
    if "MemoryError" in result.stderr:
        return "ran out of memory"
    return f"the process ended (exit status {result.returncode}) before answering"


def _graded_cells(assignment: Assignment, release: Path) -> dict[str, dict[str, str]]:
    cells: dict[str, dict[str, str]] = {}
    for name in assignment.notebooks:
        nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
        cells[name] = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                       if c.metadata.get("nbgrader", {}).get("grade")}
    return cells


def fingerprint(folder: Path) -> str:
    """Changes whenever any handed-in file (or the grader's own inputs) changes."""
    import hashlib

    h = hashlib.sha256()
    for src in sorted([CHILD, *(KIT / "checks").glob("*.py"), *(KIT / "autograde").glob("*.py")]):
        h.update(src.read_bytes())
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(folder)).encode() + b"\0")
                h.update(path.read_bytes())
    return h.hexdigest()[:32]
