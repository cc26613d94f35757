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
import shutil
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from coursekit.assignment import Assignment
from coursekit.autograde.grader import Grader, GraderConfig, SubmissionResult, fingerprint
from coursekit.course import Course, CourseError
from coursekit.feedback.report import read_result, write_outputs

COURSE_ID = "mytorch"


@dataclass
class RunSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already graded, submission unchanged
    failed: dict[str, str] = field(default_factory=dict)  # student -> why the grader could not grade


def autograde(assignment: Assignment, course: Course, *, jobs: int | None = None,
              students: list[str] | None = None, force: bool = False,
              config: GraderConfig = GraderConfig(), progress: bool = True) -> RunSummary:
    from tqdm import tqdm

    Grader(assignment, course, config)  # fail fast (no release, bad source) before starting workers
    _check_gradebook(course, assignment)
    summary = RunSummary()
    todo = []
    for student in students or course.students(assignment.name):
        previous = read_result(course.folder("autograded", assignment.name, student) / "results.json")
        current = fingerprint(course.folder("submitted", assignment.name, student))
        if not force and previous is not None and previous.fingerprint == current:
            write_gradebook(course, assignment, previous)  # cheap, and repairs a lost gradebook row
            summary.skipped.append(student)
        else:
            todo.append(student)
    if not todo:
        return summary
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    bar = tqdm(total=len(todo), desc=f"autograde {assignment.name}", unit="submission",
               file=sys.stderr, disable=not progress)
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(assignment, course, config)) as pool:
        futures = {pool.submit(_grade, student): student for student in todo}
        for future in as_completed(futures):
            student = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                summary.failed[student] = f"{type(exc).__name__}: {exc}"
                bar.write(f"{student}: could not be graded: {summary.failed[student]}")
            else:
                record(course, assignment, result)
                summary.graded.append(student)
            bar.update()
    bar.close()
    return summary


def record(course: Course, assignment: Assignment, result: SubmissionResult) -> None:
    """Gradebook first, then the student's files (results.json last marks the student done)."""
    write_gradebook(course, assignment, result)
    autograded = course.folder("autograded", assignment.name, result.student)
    _copy_notebooks(course.folder("submitted", assignment.name, result.student), autograded, assignment)
    write_outputs(result, autograded, course.folder("feedback", assignment.name, result.student))


def write_gradebook(course: Course, assignment: Assignment, result: SubmissionResult) -> None:
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    # nbgrader's own API trips SQLAlchemy 2's autoflush warnings; they are noise here.
    with warnings.catch_warnings(), Gradebook(course.db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(result.student)
        gb.update_or_create_submission(assignment.name, result.student)
        for item in result.items:
            notebook = assignment.item(item.grade_id).notebook
            grade = gb.find_grade(item.grade_id, notebook, assignment.name, result.student)
            grade.auto_score = item.points
            grade.needs_manual_grade = False
        gb.db.commit()


def _check_gradebook(course: Course, assignment: Assignment) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, COURSE_ID) as gb:
        try:
            gb.find_assignment(assignment.name)
        except MissingEntry:
            raise CourseError(f"the gradebook ({course.db_url}) has no {assignment.name}; "
                              f"run `course release {assignment.name}` with it first") from None


def _copy_notebooks(src, dest, assignment: Assignment) -> None:
    """So formgrader can open what the student handed in."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in assignment.notebooks:
        path = src / f"{name}.ipynb"
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 50 << 20:
            shutil.copyfile(path, dest / path.name)


_GRADER: Grader | None = None


def _init_worker(assignment: Assignment, course: Course, config: GraderConfig) -> None:
    global _GRADER
    _GRADER = Grader(assignment, course, config)


def _grade(student: str) -> SubmissionResult:
    assert _GRADER is not None
    return _GRADER.grade(student)
