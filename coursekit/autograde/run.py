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
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.autograde import safefs
from coursekit.autograde.grader import Grader, GraderConfig, SubmissionResult, grader_inputs
from coursekit.autograde.submission import MAX_NOTEBOOK_BYTES, fingerprint
from coursekit.course import Course, CourseError
from coursekit.feedback.report import read_result, refresh_outputs



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
        try:
            previous = _unchanged(course, assignment, student, force)
        except Exception as exc:  # noqa: BLE001 - one submission never stops the others
            _fail(summary, student, "could not be checked for changes", exc)
            continue
        if previous is None:
            todo.append(student)
            continue
        try:
            write_gradebook(course, assignment, previous)  # cheap, and repairs a lost gradebook row
            # What a grader has set by hand since (written answers) shows in results.json and feedback.
            refresh_outputs(course, assignment, student, previous)
        except Exception as exc:  # noqa: BLE001
            _fail(summary, student, "unchanged, but its gradebook row or outputs could not be written", exc)
        else:
            summary.skipped.append(student)
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
                _fail(summary, student, "could not be graded", exc, bar)
            else:
                try:
                    record(course, assignment, result)
                except Exception as exc:  # noqa: BLE001 - a result that cannot be written is one student's failure
                    _fail(summary, student, "was graded but the result could not be recorded", exc, bar)
                else:
                    summary.graded.append(student)
            bar.update()
    bar.close()
    return summary


def _unchanged(course: Course, assignment: Assignment, student: str, force: bool) -> SubmissionResult | None:
    """The student's previous result if it is from this very submission (and this grader);
    None means: grade again.  A results.json that cannot be read or is not for
    this assignment's items is as good as none."""
    if force:
        return None
    try:
        previous = read_result(course.folder("autograded", assignment.name, student) / "results.json")
    except Exception:  # noqa: BLE001 - a results.json that cannot be read means: grade again
        return None
    if previous is None or [i.grade_id for i in previous.items] != [i.grade_id for i in assignment.auto_items] \
            or set(previous.written) != {i.grade_id for i in assignment.manual_items}:
        return None
    if previous.fingerprint != fingerprint(course.folder("submitted", assignment.name, student),
                                           grader_inputs(assignment, course)):
        return None
    return previous


def _fail(summary: RunSummary, student: str, what: str, exc: BaseException, bar=None) -> None:
    """The kit could not finish this student: say so, and go on with the others."""
    from tqdm import tqdm

    summary.failed[student] = f"{what}: {type(exc).__name__}: {exc}"
    message = f"{safefs.printable(student)}: {safefs.printable(summary.failed[student], 1000)}"
    (bar or tqdm).write(message, file=sys.stderr)


def record(course: Course, assignment: Assignment, result: SubmissionResult) -> None:
    """Gradebook first, then the student's files (results.json last marks the student done)."""
    write_gradebook(course, assignment, result)
    autograded = course.folder("autograded", assignment.name, result.student)
    _copy_notebooks(course.folder("submitted", assignment.name, result.student), autograded, assignment)
    _copy_timestamp(course.folder("submitted", assignment.name, result.student), autograded)
    refresh_outputs(course, assignment, result.student, result)  # with the gradebook's grades, by hand too


# nbgrader's auto_comment for an answer cell with nothing in it ("No response." is nbgrader's own).
NO_RESPONSE = {"unanswered": "No response.", "missing": "No response: the answer cell is not in the hand-in."}


def write_gradebook(course: Course, assignment: Assignment, result: SubmissionResult) -> None:
    """The autograded items' scores, and each written item's state as nbgrader's autograde leaves it:
    answered -> waiting for a grader (needs_manual_grade, no score); unanswered or missing -> 0.
    A grade a grader has scored by hand (manual_score) is never touched, nor its comments.

    As nbgrader's autograde, the submission carries the hand-in time of ``submitted/``'s
    timestamp.txt (the formgrader lists a submission whose times differ as "needs
    autograding"), and a student without a name gets their id as last name (the formgrader
    shows "last, first"; a name someone set is kept)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    # nbgrader's own API trips SQLAlchemy 2's autoflush warnings; they are noise here.
    with warnings.catch_warnings(), Gradebook(course.db_url, course_id(assignment)) as gb:
        warnings.simplefilter("ignore", SAWarning)
        student = gb.update_or_create_student(result.student)
        if student.first_name is None and student.last_name is None:
            student.last_name, student.first_name = result.student, ""
        gb.update_or_create_submission(assignment.name, result.student,
                                       timestamp=submitted_timestamp(course, assignment, result.student))
        for item in result.items:
            notebook = assignment.item(item.grade_id).notebook
            grade = gb.find_grade(item.grade_id, notebook, assignment.name, result.student)
            grade.auto_score = item.points
            grade.needs_manual_grade = False
        written = {i.grade_id: i for i in assignment.manual_items}
        for grade_id, status in result.written.items():
            if grade_id not in written:
                continue
            notebook = written[grade_id].notebook
            grade = gb.find_grade(grade_id, notebook, assignment.name, result.student)
            if grade.manual_score is not None:
                continue  # a grader's: theirs to change
            comment = gb.find_comment(grade_id, notebook, assignment.name, result.student)
            if status == "answered":
                grade.auto_score, grade.needs_manual_grade, comment.auto_comment = None, True, None
            else:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                comment.auto_comment = NO_RESPONSE.get(status, NO_RESPONSE["unanswered"])
        gb.db.commit()


def submitted_timestamp(course: Course, assignment: Assignment, student: str):
    """The hand-in time as nbgrader reads submitted/<student>/<assignment>/timestamp.txt (naive UTC), or None."""
    from nbgrader.utils import parse_utc

    data = safefs.read_capped(course.folder("submitted", assignment.name, student), "timestamp.txt", 1000)
    if isinstance(data, safefs.Problem):
        return None
    try:
        return parse_utc(data.decode("utf-8").strip())
    except (ValueError, OverflowError, TypeError):
        return None


def course_id(assignment: Assignment) -> str:
    """nbgrader's course id: the library package's name, as the course's nbgrader_config.py sets it."""
    return assignment.package


def _check_gradebook(course: Course, assignment: Assignment) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id(assignment)) as gb:
        try:
            gb.find_assignment(assignment.name)
        except MissingEntry:
            raise CourseError(f"the gradebook ({course.db_url}) has no {assignment.name}; "
                              f"run `course release {assignment.name}` with it first") from None


def _copy_notebooks(src: Path, dest: Path, assignment: Assignment) -> None:
    """So formgrader can open what the student handed in: regular files only (no
    links, FIFOs or devices), at most MAX_NOTEBOOK_BYTES; a notebook no longer
    there (or refused) leaves no stale copy behind."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in assignment.notebooks:
        target = dest / f"{name}.ipynb"
        data = safefs.read_capped(src, target.name, MAX_NOTEBOOK_BYTES)
        if isinstance(data, safefs.Problem):
            target.unlink(missing_ok=True)
            continue
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


def _copy_timestamp(src: Path, dest: Path) -> None:
    """nbgrader's autograde keeps the hand-in's timestamp.txt beside the graded notebooks; so does the kit."""
    data = safefs.read_capped(src, "timestamp.txt", 1000)
    target = dest / "timestamp.txt"
    if isinstance(data, safefs.Problem):
        target.unlink(missing_ok=True)
        return
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


_GRADER: Grader | None = None


def _init_worker(assignment: Assignment, course: Course, config: GraderConfig) -> None:
    global _GRADER
    _GRADER = Grader(assignment, course, config)


def _grade(student: str) -> SubmissionResult:
    assert _GRADER is not None
    return _GRADER.grade(student)
