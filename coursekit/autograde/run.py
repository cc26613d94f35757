"""`course autograde`: grade a class in parallel, one writer to the gradebook.

Workers grade submissions (each grade runs sandboxed children and compares
their answers); this process alone writes the nbgrader gradebook, then the
student's feedback page and ``results.json``.  ``results.json`` is written
last and carries a fingerprint of the submission, so a run killed at any
point resumes where it stopped, and re-running changes nothing.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from collections.abc import Iterator

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.autograde import worker
from coursekit.autograde.executors import Batch, Executor, GraderExecutor, executor_for
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.results import SubmissionResult
from coursekit.autograde.inputs import run_digest
from coursekit.autograde.record import GradebookWriter, record
from coursekit.autograde.submission import fingerprint
from coursekit.course import Course
from coursekit.feedback import refresh_outputs
from coursekit.results import read_result

if TYPE_CHECKING:
    from coursekit.autograde.cluster import DaskTarget



@dataclass
class RunSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already graded, submission unchanged
    failed: dict[str, str] = field(default_factory=dict)  # student -> why the grader could not grade
    # Folders of submitted/ that cannot be a student (the student's doing, not the kit's): -> why.
    refused: dict[str, str] = field(default_factory=dict)


def autograde(assignment: Assignment, course: Course, *, jobs: int | None = None,
              students: list[str] | None = None, force: bool = False,
              config: GraderConfig = GraderConfig(), progress: bool = True,  # noqa: B008 - frozen
              dask: DaskTarget | str | None = None, executor: str | Executor | None = None) -> RunSummary:
    """Grade the submissions that changed since they were last graded (all with ``force``).

    ``executor`` says where (:func:`executors.executor_for`): by default ``jobs`` submissions
    at a time in local processes, or, with ``dask`` (a running cluster with its credentials,
    or "local" for a cluster of ``jobs`` workers on this machine; see
    :mod:`coursekit.autograde.cluster`), on a Dask cluster.  Either way this process alone
    records results."""
    if executor is None or isinstance(executor, str):
        # A cluster the kit may not use is refused here, before anything starts.
        executor = executor_for(executor, dask=dask)
    elif dask is not None:
        raise ValueError("dask= is for choosing the executor by name, not with one given")
    return executor.autograde(assignment, course, students=students, force=force, config=config, jobs=jobs,
                              progress=progress)


class PoolExecutor(GraderExecutor):
    """``jobs`` local worker processes, each with its own Grader, reading the submitted folders."""
    name = "pool"

    def results(self, batch: Batch) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
        grader = batch.grader
        return _pool(grader.assignment, grader.course, grader.config, batch.references, batch.students,
                     batch.jobs, grader.digest)


def grade_with(executor: GraderExecutor, assignment: Assignment, course: Course, *, students: list[str] | None,
               force: bool, config: GraderConfig, jobs: int | None, progress: bool) -> RunSummary:
    """The run of every :class:`GraderExecutor`: what changed is graded where ``executor`` says,
    and recorded here."""
    from tqdm import tqdm

    digest = run_digest(assignment, course, config)  # what the grader uses besides hand-ins: once per run
    grader = Grader(assignment, course, config, digest=digest)  # fails fast (no release, bad source)
    summary = RunSummary()
    with GradebookWriter(course, assignment) as writer:  # CourseError if the assignment is not in it
        todo = _to_grade(course, assignment, students or course.students(assignment.name), force, writer, summary,
                         digest)
        if not todo:
            return summary
        jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        bar = tqdm(total=len(todo), desc=f"autograde {assignment.name}", unit="submission",
                   file=sys.stderr, disable=not progress)
        references = grader.references()  # once, here: the workers then need no PyTorch
        batch = Batch(grader, references, todo, jobs, log=lambda message: bar.write(message, file=sys.stderr))
        for student, outcome in executor.results(batch):
            if isinstance(outcome, BaseException):
                _fail(summary, student, "could not be graded", outcome, bar)
            else:
                try:
                    record(course, assignment, outcome, writer)
                except Exception as exc:  # noqa: BLE001 - a result that cannot be written is one student's failure
                    _fail(summary, student, "was graded but the result could not be recorded", exc, bar)
                else:
                    summary.graded.append(student)
            bar.update()
        bar.close()
    return summary


def _to_grade(course: Course, assignment: Assignment, students: list[str], force: bool,
              writer: GradebookWriter, summary: RunSummary, digest: str) -> list[str]:
    """The students to grade; the others' unchanged results are written again (cheap, and it
    repairs a lost gradebook row) with what a grader has set by hand since."""
    todo = []
    for student in students:
        if not safefs.is_utf8(student):
            # A name with bytes that are not UTF-8 (nbgrader's exchange takes it from the student)
            # can be no gradebook's student id: said once, and not the kit's failure.
            summary.refused[student] = "its folder name is not UTF-8 text, so it cannot be a student id " \
                                       "in the gradebook; rename the folder"
            _say(f"{safefs.printable(student)}: not graded: {summary.refused[student]}")
            continue
        try:
            previous = _unchanged(course, assignment, student, force, digest)
        except Exception as exc:  # noqa: BLE001 - one submission never stops the others
            _fail(summary, student, "could not be checked for changes", exc)
            continue
        if previous is None:
            todo.append(student)
            continue
        try:
            grades = writer.write(previous)
            refresh_outputs(course, assignment, student, previous, grades)
        except Exception as exc:  # noqa: BLE001
            _fail(summary, student, "unchanged, but its gradebook row or outputs could not be written", exc)
        else:
            summary.skipped.append(student)
    return todo


def _pool(assignment: Assignment, course: Course, config: GraderConfig, references: dict,
          students: list[str], jobs: int, digest: str) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
    """Each student's result (or why there is none) as local worker processes finish them."""
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=worker.start,
                             initargs=(assignment, course, config, references, digest)) as pool:
        futures = {pool.submit(worker.grade, student): student for student in students}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                yield futures[future], exc


def _unchanged(course: Course, assignment: Assignment, student: str, force: bool,
               digest: str = "") -> SubmissionResult | None:
    """The student's previous result if it is from this very submission and this very grader
    (``digest``: the run's ``inputs.run_digest``); None means: grade again.  A results.json
    that cannot be read or is not for this assignment's items is as good as none."""
    if force:
        return None
    try:
        previous = read_result(course.folder("autograded", assignment.name, student) / "results.json")
    except Exception:  # noqa: BLE001 - a results.json that cannot be read means: grade again
        return None
    if previous is None or [i.grade_id for i in previous.items] != [i.grade_id for i in assignment.auto_items] \
            or set(previous.written) != {i.grade_id for i in assignment.manual_items}:
        return None
    if previous.fingerprint != fingerprint(course.folder("submitted", assignment.name, student), assignment, digest):
        return None
    return previous


def _fail(summary: RunSummary, student: str, what: str, exc: BaseException, bar=None) -> None:
    """The kit could not finish this student: say so, and go on with the others."""
    summary.failed[student] = f"{what}: {type(exc).__name__}: {exc}"
    _say(f"{safefs.printable(student)}: {safefs.printable(summary.failed[student], 1000)}", bar)


def _say(message: str, bar=None) -> None:
    from tqdm import tqdm

    (bar or tqdm).write(message, file=sys.stderr)
