"""Grade one submission with every check run outside the student's reach.

For each graded item a fresh sandboxed child (``child.py``) imports a
library made of the student's files that the item uses, the released stubs
for the rest, and re-exporting ``__init__`` files of the grader's own.  An
item that runs a notebook solution cell (``cell = ...`` in the declaration)
gets a module made of that one cell's code from the handed-in notebook
instead, held to the same source policy; no other cell is ever run.  The
child gets inputs and hands back plain arrays; this process — which never
imports student code — computes the references and decides the points.

What student code may import follows the assignment's ``[policy] modules``:
the source policy checks the declared modules, and the sandbox shows the
installed packages they belong to (numpy always: the harness needs it) and
nothing else of site-packages.
"""
from __future__ import annotations

import compileall
import dataclasses
import functools
import importlib.metadata
import importlib.util
import math
import multiprocessing.util
import py_compile
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coursekit import ipynb
from coursekit.assignment import SHIPPED_CHECKS, Assignment, Item
from coursekit.autograde import protocol, sandbox
from coursekit.autograde.cases import Case, read_cases
from coursekit.autograde.inputs import run_digest
from coursekit.autograde.submission import (Submission, cell_label, cell_sources, check_notebooks,
                                            fingerprint, read_submission)
from coursekit.runtime.checks import (CRASHED, NO_ANSWER, NOT_COMPARABLE, OUT_OF_MEMORY, TIMED_OUT, TOO_LARGE,
                                      Arrays, Check, Verdict, fixture_case, load_checks, public_category,
                                      runs_mismatch)
from coursekit.runtime.checks.library import builds_on, file_sets, package_sources, suspects_note, write_package
from coursekit.runtime.checks.tester import render
from coursekit.course import Course, CourseError
from coursekit.results import ItemResult, SubmissionResult
from coursekit.library.view import student_stub

KIT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "child.py"
MAX_RESULT_BYTES = 64 << 20
MAX_ANSWER_BYTES = 16 << 20   # all arrays of one case's answer
MAX_INPUT_BYTES = 256 << 20   # all inputs of one item (the grader's own data)
MAX_CHANNEL_BYTES = 64 << 20  # everything the harness may send back


class GraderError(RuntimeError):
    """The grader itself failed: the submission is not scored rather than scored 0."""


class Failure(str):
    """Why a case has no answer: the full message (shown for the visible case), and ``category``,
    the same without any value and held to the fixed vocabulary (all a hidden case shows)."""

    category: str

    def __new__(cls, message: str, category: object = NO_ANSWER) -> Failure:
        failure = super().__new__(cls, message)
        failure.category = public_category(category)
        return failure


def is_hidden(case: str) -> bool:
    """Whether a case (as :meth:`Grader._plan` names them) is a hidden one."""
    return case.startswith("hidden")


@dataclass
class Handin:
    """What :meth:`Grader.read` took from a student's folder: all that :meth:`Grader.run` needs,
    so it can run anywhere (a Dask worker has no access to the folder)."""
    submission: Submission
    written: dict[str, str]  # written item -> "answered", "unanswered" or "missing"
    fingerprint: str
    seconds: float  # spent reading


@dataclass(frozen=True)
class GraderConfig:
    # wall_seconds and cpu_seconds bound each item's worker; the sandbox as a whole
    # gets wall_seconds for every attempt it may make, plus a margin.
    limits: sandbox.Limits = sandbox.Limits(wall_seconds=30, cpu_seconds=30, memory_bytes=2 << 30,
                                            max_processes=32, max_output_bytes=64 << 10,
                                            max_file_bytes=MAX_RESULT_BYTES)
    require_sandbox: bool = True
    use_sandbox: bool = True
    backend: str = ""  # the sandbox backend's name (sandbox.backend_for): "" is bubblewrap where it works

    @classmethod
    def for_assignment(cls, assignment: Assignment, **options) -> GraderConfig:
        """The default limits, with the assignment's own ``[limits]`` where it declares them."""
        config = cls(**options)
        limits = config.limits
        if assignment.item_seconds:
            seconds = float(assignment.item_seconds)
            limits = dataclasses.replace(limits, wall_seconds=seconds, cpu_seconds=max(1, int(seconds + 0.999)))
        if assignment.memory_mb:
            limits = dataclasses.replace(limits, memory_bytes=int(assignment.memory_mb) << 20)
        return dataclasses.replace(config, limits=limits)


class Grader:
    """Everything that is the same for every student, prepared once per worker."""

    def __init__(self, assignment: Assignment, course: Course, config: GraderConfig = GraderConfig(),
                 references: dict[str, Arrays] | None = None, digest: str | None = None):
        """``references``: what :meth:`references` returned in another process (a run computes
        them once, so each worker needs no PyTorch and every submission meets the same ones);
        ``digest``: the run's ``inputs.run_digest``, likewise (computed here, first, without one)."""
        self.assignment, self.course, self.config = assignment, course, config
        # Before any course file is read: one changed meanwhile is then a change at the next run.
        self.digest = digest or run_digest(assignment, course, config)
        self.backend = grading_backend(config)
        release = course.folder("release", assignment.name)
        if not release.is_dir():
            raise CourseError(f"{release} does not exist; run `course release {assignment.name}` first")
        self.cases = read_cases(assignment, course.repo / "source" / assignment.name)
        self.checks = load_checks(course.source_file(assignment.checks))
        self._check_kinds()
        # CourseError now, not per student, if a declared package is not installed.
        package_paths(harness_modules(assignment.allowed_modules, assignment.package))
        self.fixture = course.source_file(assignment.fixture)
        self.stubs = {rel: student_stub(assignment, rel, course.source_file(rel).read_text())
                      for rel in assignment.student_files}
        self.released_files = {str(p.relative_to(release)) for p in release.rglob("*")
                               if p.is_file() and "__pycache__" not in p.parts}
        self.released_cells, self.released_answers = _released_cells(assignment, release)
        # The same for every student: read the fixture and build the inputs once.
        self.visible = {i.grade_id: fixture_case(i.grade_id, self.fixture) for i in assignment.auto_items}
        self.plans = {i.grade_id: self._plan(i) for i in assignment.auto_items}
        self._references: dict[str, Arrays] = dict(references or {})
        self._harness: tempfile.TemporaryDirectory | None = None
        self._shown: dict[str, dict[str, str]] = {}  # the visible references as feedback shows them

    def references(self) -> dict[str, Arrays]:
        """Every case's reference, computed now: by "<grade_id>.<case>" (the visible case's is the fixture's)."""
        for grade_id, plan in self.plans.items():
            for name, (case, inputs) in plan.items():
                if name != "visible":
                    self._reference(self.checks[grade_id], name, case, inputs)
        return dict(self._references)

    # -- one submission ---------------------------------------------------------

    def grade(self, student: str) -> SubmissionResult:
        return self.run(self.read(student))

    def read(self, student: str, folder: Path | None = None) -> Handin:
        """Everything grading needs from the student's folder, read (never run) here: the
        files' text, the cells items run, and every problem found, as plain data.  ``folder``:
        the hand-in's folder when it is not the student's in ``submitted/`` (``course mutants``)."""
        start = time.monotonic()
        folder = folder or self.course.folder("submitted", self.assignment.name, student)
        # Before reading: a file changed meanwhile is then a change at the next run, never kept.
        seen = fingerprint(folder, self.assignment, self.digest)
        sub = read_submission(self.assignment, student, folder, self.released_files)
        sub.notes.extend(check_notebooks(self.assignment, folder, self.released_cells))
        return Handin(sub, self._written(folder), seen, time.monotonic() - start)

    def run(self, handin: Handin) -> SubmissionResult:
        """Run the student's code in the sandbox and decide the points (needs no access to the folder)."""
        start = time.monotonic()
        self._isolation: list[str] = []
        sub = handin.submission
        runnable = [item for item in self.assignment.auto_items if not self._file_problems(item, sub)]
        # One sandbox for the whole submission; inside it every item runs in a
        # worker of its own, first with the whole library, then (if that does not
        # import) with only the item's own files.  Items it left unanswered (the
        # harness was killed, the sandbox ran out of time) are retried alone.
        answers, failure = self._run_child(runnable, sub, whole_library=True)
        for item in runnable:
            if not self._answered(item, answers):
                retry, why = self._run_child([item], sub, whole_library=False)
                answers.update(retry)
                failure[item.grade_id] = why[item.grade_id]
        items = [self._result(item, sub, answers, failure.get(item.grade_id, ""))
                 for item in self.assignment.auto_items]
        for result in items:
            result.title = self.checks[result.grade_id].title
        _name_suspects(items, {i.grade_id: i.files for i in self.assignment.auto_items})
        return SubmissionResult(sub.student, self.assignment.name, items, sub.notes, handin.fingerprint,
                                handin.seconds + time.monotonic() - start, self._sandboxed(),
                                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, self._isolation,
                                handin.written)

    def _written(self, folder: Path) -> dict[str, str]:
        """Whether each written item's answer cell was answered (changed from the release)."""
        status: dict[str, str] = {}
        sources: dict[str, dict[str, str | None]] = {}
        for item in self.assignment.manual_items:
            if item.notebook not in sources:
                sources[item.notebook] = cell_sources(folder, item.notebook)[0]
            source = sources[item.notebook].get(item.grade_id)
            released = self.released_answers.get(item.grade_id, "")
            status[item.grade_id] = "missing" if source is None else \
                "unanswered" if source.strip() == released.strip() else "answered"
        return status

    def _check_kinds(self) -> None:
        """Each check is given what its item runs: the library, or a notebook cell."""
        for item in self.assignment.auto_items:
            why = runs_mismatch(item.grade_id, self.checks[item.grade_id], item.cell) \
                if item.grade_id in self.checks else ""
            if why:
                raise CourseError(f"{self.assignment.checks}: {why}")

    def _file_problems(self, item: Item, sub: Submission) -> list[str]:
        """Why the item's student code cannot run: its files', or its notebook cell's, problems."""
        if item.cell:
            return list(sub.cell_problems.get((item.notebook, item.cell), []))
        return [p for rel in item.files for p in sub.file_problems.get(rel, [])]

    def _plan(self, item: Item) -> dict[str, tuple[Case | None, Arrays]]:
        """case name -> (case, inputs): the visible case, the hidden ones, then advice inputs."""
        check = self.checks[item.grade_id]
        plan: dict[str, tuple[Case | None, Arrays]] = {}
        for k, case in enumerate(self.cases[item.grade_id]):
            plan["visible" if not case else f"hidden{k}"] = (case, self._inputs(check, case))
        for k, (_, make) in enumerate(check.advice):
            plan[f"advice{k}"] = (None, make())
        return plan

    def _answered(self, item: Item, answers: dict) -> bool:
        return all(f"{item.grade_id}.{name}" in answers for name in self.plans[item.grade_id])

    def _result(self, item: Item, sub: Submission, answers: dict, failure: str) -> ItemResult:
        plan = self.plans[item.grade_id]
        problems = self._file_problems(item, sub)
        if problems:
            return ItemResult(item.grade_id, 0, item.points, "; ".join(problems))
        check = self.checks[item.grade_id]
        verdicts = {}
        for name, (case, inputs) in plan.items():
            answer = answers.get(f"{item.grade_id}.{name}")
            if isinstance(answer, str):
                verdicts[name] = Verdict(False, answer, getattr(answer, "category", NO_ANSWER))
            elif answer is None:
                verdicts[name] = Verdict(False, failure or NO_ANSWER, getattr(failure, "category", NO_ANSWER))
            else:
                verdicts[name] = _judge(check, answer, self._reference(check, name, case, inputs), inputs)
        visible_out = answers.get(f"{item.grade_id}.visible")
        try:
            shown = render(check, visible_out, self.visible[check.grade_id][1],
                           self._shown.setdefault(check.grade_id, {})) if isinstance(visible_out, dict) else ""
        except Exception:  # noqa: BLE001 - an odd answer shape is no reason to leave a student ungraded
            shown = ""
        notes = [f"with {desc}: {verdicts[f'advice{k}'].message}" for k, (desc, _) in enumerate(check.advice)
                 if not verdicts[f"advice{k}"].ok]
        graded = [n for n in plan if not n.startswith("advice")]
        failed = [n for n in graded if not verdicts[n].ok]
        if not failed:
            return ItemResult(item.grade_id, item.points, item.points, "all checks passed", shown, notes)
        hidden = [n for n in graded if is_hidden(n)]
        name = failed[0]
        if not is_hidden(name):
            return ItemResult(item.grade_id, 0, item.points, f"visible case: {verdicts[name].message}", shown, notes)
        # Which check failed and what kind of failure, in words that name no value: the message
        # may hold the hidden inputs, the expected outputs or anything the student's code wrote.
        where = f"hidden case {hidden.index(name) + 1} of {len(hidden)}"
        return ItemResult(item.grade_id, 0, item.points, f"{where}: {verdicts[name].public}", shown, notes)

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
                   whole_library: bool) -> tuple[dict, dict[str, str]]:
        """Answers by "<grade_id>.<case>" (arrays, or why the case has none), and,
        per item, why answers are missing if the sandbox stopped early."""
        if not items:
            return {}, {}
        harness = self._harness_dir()
        with tempfile.TemporaryDirectory(prefix="coursekit-grade-") as tmp:
            work = Path(tmp)
            variants = self._write_libraries(work / "lib", sub, items, whole_library)
            cells = self._write_cells(work, sub, items)
            cases = {item.grade_id: self._case_inputs(item) for item in items}
            answers, ready, result = run_harness(work, cases, variants, self.config, package=self.assignment.package,
                                                 modules=self.assignment.allowed_modules, cells=cells,
                                                 harness=harness)
        self._isolation = list(result.isolation)
        if not ready and not result.timed_out:
            raise GraderError(f"the grading child failed before running student code "
                              f"(exit {result.returncode}): {result.stderr.strip()[-500:]}")
        why = _why_missing(result, self.config.limits)
        return answers, {item.grade_id: why for item in items}

    def _case_inputs(self, item: Item) -> dict[str, Arrays]:
        """What the harness runs the item's code on, by case name: its plan's cases (a subclass
        may add cases that are never graded, as ``course mutants`` adds its probes)."""
        return {name: arrays for name, (_, arrays) in self.plans[item.grade_id].items()}

    def _write_libraries(self, lib: Path, sub: Submission, items: list[Item],
                         whole_library: bool) -> dict[str, list[str]]:
        """One library per set of files in use; per item, the variants to try in order."""
        usable = [rel for rel in self.assignment.student_files if rel not in sub.file_problems]
        made: dict[frozenset[str], str] = {}
        variants: dict[str, list[str]] = {}
        for item in items:
            names = []
            for files in file_sets(usable, item.files, whole_library):
                if files not in made:
                    made[files] = f"v{len(made)}"
                    write_package(lib / made[files], package_sources(self.assignment.student_files, sub.files,
                                                                      self.stubs, files))
                names.append(made[files])
            variants[item.grade_id] = names
        return variants

    def _write_cells(self, work: Path, sub: Submission, items: list[Item]) -> dict[str, tuple[str, str]]:
        """The code of each notebook cell the items run, as ``cells/c<k>.py``; per item, its file
        (relative to ``work``) and how messages name the cell."""
        files: dict[tuple[str, str], str] = {}
        cells: dict[str, tuple[str, str]] = {}
        for item in items:
            key = (item.notebook, item.cell)
            if not item.cell or key not in sub.cells:
                continue
            if key not in files:
                files[key] = f"cells/c{len(files)}.py"
                (work / "cells").mkdir(exist_ok=True)
                (work / files[key]).write_text(sub.cells[key], encoding="utf-8")
            cells[item.grade_id] = (files[key], cell_label(*key))
        return cells

    def _harness_dir(self) -> Path:
        """The harness and the kit it imports, written (and compiled) once for all submissions;
        removed with the grader."""
        if self._harness is None:
            self._harness = tempfile.TemporaryDirectory(prefix="coursekit-harness-")
            # A worker process (pool or Dask) ends with os._exit, which skips TemporaryDirectory's
            # own clean-up at exit; multiprocessing's exit hooks still run this.
            multiprocessing.util.Finalize(self, self._harness.cleanup, exitpriority=10)
            prepare_harness(Path(self._harness.name),
                            self.course.source_file(self.assignment.checks).read_text(encoding="utf-8"),
                            self.assignment.allowed_modules, self.assignment.package)
        return Path(self._harness.name)

    def _sandboxed(self) -> bool:
        return self.backend.isolates


def grading_backend(config: GraderConfig) -> sandbox.Backend:
    """The sandbox backend ``config`` grades with; SandboxUnavailable (one line) if it cannot here."""
    backend = sandbox.backend_for(config.backend, use_sandbox=config.use_sandbox)  # unknown, unavailable: raises
    if config.require_sandbox and not backend.isolates:
        raise sandbox.SandboxUnavailable(
            ("grading needs the bubblewrap sandbox (apt-get install bubblewrap); " if not config.backend else
             f"grading needs a sandbox that isolates the student's code, which {backend.name!r} does not; ")
            + "--allow-unsandboxed grades with resource limits only")
    return backend


# What the harness imports of the kit: the check machinery (with the code that runs a
# notebook cell) and the protocol; nothing else of the kit is in the sandbox.
HARNESS_KIT = ("runtime/checks/__init__.py", "runtime/checks/library.py", "runtime/checks/policy.py",
               "autograde/protocol.py")


def write_kit(kit: Path, checks_source: str) -> None:
    """The grader's own copy of what the harness imports, with the assignment's checks module,
    compiled: the harness (run with -B) loads the bytecode instead of compiling every time."""
    package = kit / "coursekit"
    for init in ("__init__.py", "autograde/__init__.py", "runtime/__init__.py", "runtime/checks/__init__.py"):
        (package / init).parent.mkdir(parents=True, exist_ok=True)
        (package / init).write_text("")
    for rel in HARNESS_KIT:
        shutil.copy(KIT / rel, package / rel)
    (kit / SHIPPED_CHECKS).write_text(checks_source, encoding="utf-8")
    # Unchecked: these copies never change after this, and their timestamps say nothing.
    compileall.compile_dir(kit, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def prepare_harness(harness: Path, checks_source: str, modules: tuple[str, ...] = ("numpy",),
                    package: str = "mytorch") -> Path:
    """``harness``: the harness (child.py), the kit it imports (kit/) and links to the installed
    packages it may import (site/), the same for every submission of an assignment."""
    write_kit(harness / "kit", checks_source)
    return _add_harness(harness, modules, package)


def _add_harness(harness: Path, modules: tuple[str, ...], package: str) -> Path:
    harness.chmod(0o755)  # read by the sandbox's unprivileged uid; written by no one
    shutil.copy(CHILD, harness / "child.py")
    (harness / "site").mkdir()
    for path in package_paths(harness_modules(tuple(modules), package)):
        link = harness / "site" / path.name
        if not link.exists():
            link.symlink_to(path)
    return harness


def _name_suspects(items: list[ItemResult], files: dict[str, tuple[str, ...]]) -> None:
    """A failed item whose foundations fail too (a network on a broken layer) says so."""
    failed = {r.grade_id for r in items if not r.passed}
    for result in items:
        if result.grade_id in failed:
            note = suspects_note(g for g in builds_on(files, result.grade_id) if g in failed)
            if note:
                result.reason = f"{result.reason}; {note}"


def _judge(check: Check, answer: Arrays, reference: Arrays, inputs: Arrays) -> Verdict:
    """The check's verdict; an answer so odd that comparing it fails is wrong, not a reason to stop."""
    try:
        return check.verdict(answer, reference, inputs)
    except Exception as exc:  # noqa: BLE001
        return Verdict(False, f"{NOT_COMPARABLE} ({type(exc).__name__})", NOT_COMPARABLE)


def harness_modules(modules: tuple[str, ...], package: str = "") -> tuple[str, ...]:
    """The installed top-level packages the harness may import for an assignment that declares
    ``modules``: numpy (the harness's own need) and the packages of the declared modules —
    never the students' own ``package``, which the sandbox gets from the hand-in."""
    tops = ("numpy", *(m.split(".")[0] for m in modules))
    return tuple(t for t in dict.fromkeys(tops) if t not in sys.stdlib_module_names and t != package)


@functools.cache
def package_paths(packages: tuple[str, ...]) -> tuple[Path, ...]:
    """Where the installed ``packages`` are (their directories, or files), with the shared
    libraries their wheels vendor (``<distribution>.libs``), to bind read-only in the sandbox.

    CourseError names a package that is not installed for this interpreter."""
    found: list[Path] = []
    owners = importlib.metadata.packages_distributions()
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not (spec.origin or spec.submodule_search_locations):
            raise CourseError(f"student code may import {name!r} ([policy] modules), but it is not installed "
                              f"for the grader ({sys.executable}); install it, or remove it from the list")
        places = [Path(p).resolve() for p in (spec.submodule_search_locations or [spec.origin])]
        libs = {places[0].parent / f"{name}.libs"}
        for dist_name in owners.get(name, []):
            dist = importlib.metadata.distribution(dist_name)
            tops = {file.parts[0] for file in dist.files or [] if len(file.parts) > 1}
            libs |= {Path(dist.locate_file(top)).resolve() for top in tops if top.endswith(".libs")}
        found += places + sorted(p for p in libs if p.is_dir())
    return tuple(dict.fromkeys(found))


def run_harness(work: Path, cases: dict[str, dict[str, Arrays]], variants: dict[str, list[str]],
                config: GraderConfig, *, package: str = "mytorch", modules: tuple[str, ...] = ("numpy",),
                cells: dict[str, tuple[str, str]] | None = None,
                harness: Path | None = None) -> tuple[dict, bool, sandbox.Result]:
    """Run the harness over ``work`` (which holds ``lib/<variant>/`` and the cells' code) in the
    sandbox.  ``harness``: a folder made by :func:`prepare_harness`; without one, ``work`` must
    hold ``kit/`` (see :func:`write_kit`) and the rest is added to it.

    ``cases``: grade_id -> case name -> inputs; ``variants``: grade_id -> the
    libraries to try in order; ``package``: the library's package; ``modules``: what
    the assignment lets student code import; ``cells``: grade_id -> (file of the
    notebook cell the item runs, relative to ``work``; how messages name it), for
    items that run a cell rather than the package.  Returns the answers by
    "<grade_id>.<case>", whether the harness said it was ready, and the sandbox's result."""
    cells = cells or {}
    work.chmod(0o755)  # read by the sandbox's unprivileged uid; written by no one
    if harness is None:
        harness = _add_harness(work, modules, package)
    packages = harness_modules(tuple(modules), package)
    visible = package_paths(packages)
    limits = config.limits
    backend = grading_backend(config)
    job = {"items": {grade_id: {"cases": list(named), "hidden": [c for c in named if is_hidden(c)],
                                "visible": [c for c in named if c == "visible"], "libs": variants[grade_id],
                                "cell": cells.get(grade_id, ("", ""))[0], "where": cells.get(grade_id, ("", ""))[1]}
                     for grade_id, named in cases.items()},
           "package": package,
           "allowed_prefixes": [*packages, package],
           "own_pid_namespace": backend.isolates,  # an isolating backend promises one (sandbox.Backend)
           "item_seconds": limits.wall_seconds, "answer_bytes": MAX_ANSWER_BYTES, "input_bytes": MAX_INPUT_BYTES}
    stdin = [protocol.encode(job)]
    # Every public case first, then the hidden ones: the harness runs the public ones before it reads
    # any hidden case, so no student code whose output is shown in full runs where one is in memory.
    for hidden in (False, True):
        for grade_id, named in cases.items():
            for name, arrays in named.items():
                if is_hidden(name) == hidden:
                    stdin.append(protocol.encode({"item": grade_id, "case": name}, arrays))
    # Each item's worker (one for its public cases, one for its hidden ones) has wall_seconds;
    # the sandbox as a whole, every attempt's worth.
    attempts = sum(len(v) * len({is_hidden(c) for c in cases[g]}) for g, v in variants.items() if g in cases)
    result = sandbox.run(
        [str(sandbox.python_executable()), "-I", "-S", "-B", str(harness / "child.py"), str(harness), str(work)],
        read_only=list(dict.fromkeys([harness, work, *sandbox.python_paths(), *visible])),
        env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        limits=dataclasses.replace(limits, wall_seconds=limits.wall_seconds * attempts + 20),
        backend=backend, require_sandbox=config.require_sandbox,
        stdin=b"".join(stdin), channel_bytes=MAX_CHANNEL_BYTES)
    answers, ready = _read_channel(result.channel, cases)
    return answers, ready, result


def _read_channel(data: bytes, plans: dict[str, dict]) -> tuple[dict, bool]:
    """Answers from the harness's frames, and whether it said it was ready.

    Only (item, case) pairs that were asked for are taken, the first frame for
    each; a malformed frame ends the reading (what came before it stands)."""
    answers: dict[str, dict | str] = {}
    ready = False
    widened = 0  # bytes of the float64 answers made so far
    try:
        for header, build in protocol.frames(data, budget=MAX_CHANNEL_BYTES):
            kind, item, case = header.get("type"), header.get("item"), header.get("case")
            if kind == "ready":
                ready = True
            elif kind in ("answer", "error") and item in plans and case in plans[item]:
                key = f"{item}.{case}"
                if key in answers:
                    continue
                if kind == "error":
                    answers[key] = Failure(str(header.get("message", ""))[:2000], header.get("category"))
                    continue
                # Checks compare float64; a frame may carry 1-byte numbers (uint8, bool), which
                # become 8 times larger: the budgets hold for what is made, not what was sent.
                # Sized from the frame's checked layout, so a refused frame is never copied: the
                # channel itself is all that hostile answers can add to the grader.
                size = sum(8 * math.prod(shape) for _, shape in header["arrays"].values())
                if size > MAX_ANSWER_BYTES or widened + size > MAX_CHANNEL_BYTES:
                    answers[key] = Failure("the result is larger than any answer can be", TOO_LARGE)
                    continue
                widened += size
                answers[key] = {k: np.asarray(v, dtype=np.float64) for k, v in build().items()}
    except protocol.ProtocolError:
        pass
    return answers, ready


def _why_missing(result: sandbox.Result, limits: sandbox.Limits) -> Failure:
    """Why a sandbox run left items unanswered (each worker reports its own item's reasons)."""
    if result.memory_exceeded:
        return Failure(f"ran out of memory (the limit is {limits.memory_bytes >> 20} MB for all it runs)",
                       OUT_OF_MEMORY)
    if result.channel_overflow:
        return Failure(TOO_LARGE, TOO_LARGE)
    if result.timed_out:
        return Failure("the sandbox ran out of time before this item was answered (an endless loop?)", TIMED_OUT)
    if result.returncode and result.returncode > 128:
        return Failure(f"the grading harness was killed (signal {result.returncode - 128}) while this item ran: "
                       "by the item's own code, or a limit", CRASHED)
    return Failure(f"the grading harness ended (exit status {result.returncode}) before answering this item",
                   CRASHED)


def _released_cells(assignment: Assignment, release: Path) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """From the released notebooks: per notebook, the autograded test cells (grade id -> source),
    which students must leave alone; and each written item's answer cell as released (blank)."""
    written = {item.grade_id for item in assignment.manual_items}
    tests: dict[str, dict[str, str]] = {}
    answers: dict[str, str] = {}
    for name in assignment.notebooks:
        tests[name] = {}
        for cell in ipynb.cells(release / f"{name}.ipynb"):
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("grade_id") in written:
                answers[meta["grade_id"]] = cell["source"]
            elif meta.get("grade") and not meta.get("solution"):
                tests[name][meta["grade_id"]] = cell["source"]
    return tests, answers
