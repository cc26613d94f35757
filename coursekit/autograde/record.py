"""Recording a graded submission: nbgrader's gradebook, then the student's files.

Only the process that runs ``course autograde`` writes here, one submission
at a time, whatever graded it (the local pool or a Dask cluster): the
gradebook has one writer.  A run opens the gradebook once
(:class:`GradebookWriter`) and commits once per submission, so a run stopped
at any point loses at most the submission being written, and its
``results.json`` (written last) is then missing too: the next run grades it again.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.results import SubmissionResult
from coursekit.autograde.submission import MAX_NOTEBOOK_BYTES, handin_time
from coursekit.course import Course, CourseError
from coursekit.feedback import refresh_outputs
from coursekit.safefs import write_atomic
from coursekit.gradebook import ItemGrade, item_grade

# nbgrader's auto_comment for an answer cell with nothing in it ("No response." is nbgrader's own).
NO_RESPONSE = {"unanswered": "No response.", "missing": "No response: the answer cell is not in the hand-in."}


class GradebookWriter:
    """The gradebook, open for a whole run.  Use as a context manager.

    :meth:`write` stores one result and returns that submission's grades as
    the gradebook now holds them (a grader's manual scores included), which is
    what the student's feedback shows."""

    def __init__(self, course: Course, assignment: Assignment):
        self.course, self.assignment = course, assignment
        self._gb = None

    def __enter__(self) -> GradebookWriter:
        from nbgrader.api import Gradebook

        from nbgrader.api import MissingEntry

        self._gb = Gradebook(self.course.db_url, course_id(self.assignment))
        try:
            self._gb.find_assignment(self.assignment.name)
        except MissingEntry:
            self._gb.close()
            raise CourseError(f"the gradebook ({self.course.db_url}) has no {self.assignment.name}; "
                              f"run `course release {self.assignment.name}` with it first") from None
        # The assignment's notebooks and cells stay loaded across commits (reloading them for
        # every new submission was most of a write); rows a grader may change meanwhile (the
        # student, grades, comments) are read afresh for each submission instead.
        self._gb.db().expire_on_commit = False
        return self

    def __exit__(self, *exc) -> None:
        self._gb.close()
        self._gb = None

    def write(self, result: SubmissionResult) -> dict[str, ItemGrade]:
        """The autograded items' scores, and each written item's state as nbgrader's autograde
        leaves it: answered -> waiting for a grader (needs_manual_grade, no score); unanswered or
        missing -> 0.  A grade a grader has scored by hand (manual_score) is never touched, nor
        its comments.

        As nbgrader's autograde, the submission carries the hand-in time of ``submitted/``'s
        timestamp.txt (the formgrader lists a submission whose times differ as "needs
        autograding"), and a student without a name gets their id as last name (the formgrader
        shows "last, first"; a name someone set is kept)."""
        from sqlalchemy.exc import SAWarning

        gb = self._gb
        # nbgrader's own API trips SQLAlchemy 2's autoflush warnings; they are noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            try:
                grades = self._write(gb, result)
            except BaseException:
                gb.db.rollback()
                raise
            gb.db.commit()
        return grades

    def _write(self, gb, result: SubmissionResult) -> dict[str, ItemGrade]:
        student = gb.update_or_create_student(result.student)
        gb.db.refresh(student)
        if student.first_name is None and student.last_name is None:
            student.last_name, student.first_name = result.student, ""
        submission = gb.update_or_create_submission(
            self.assignment.name, result.student,
            timestamp=submitted_timestamp(self.course, self.assignment, result.student))
        grades, maxima, comments = _rows(gb, submission.id)
        for item in result.items:
            grade = _find(grades, item.grade_id, self.assignment.item(item.grade_id).notebook, result.student)
            grade.auto_score = item.points
            grade.needs_manual_grade = False
        written = {i.grade_id: i for i in self.assignment.manual_items}
        for grade_id, status in result.written.items():
            if grade_id not in written:
                continue
            grade = _find(grades, grade_id, written[grade_id].notebook, result.student)
            if grade.manual_score is not None:
                continue  # a grader's: theirs to change
            comment = _find(comments, grade_id, written[grade_id].notebook, result.student)
            if status == "answered":
                grade.auto_score, grade.needs_manual_grade, comment.auto_comment = None, True, None
            else:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                comment.auto_comment = NO_RESPONSE.get(status, NO_RESPONSE["unanswered"])
        said = {name: comment.manual_comment or "" for (name, _), comment in comments.items()}
        return {name: item_grade(name, maxima[(name, nb)], grade, said.get(name, ""))
                for (name, nb), grade in grades.items()}

def _rows(gb, submission_id: str) -> tuple[dict, dict[tuple[str, str], float | None], dict]:
    """The submission's grades, their maximum points and its comments, by (cell name, notebook
    name), in one query each (nbgrader's find_grade is a query per cell)."""
    from nbgrader.api import BaseCell, Comment, Grade, Notebook, SubmittedNotebook

    def query(model):
        return (gb.db.query(model, BaseCell, Notebook.name)
                .join(BaseCell, BaseCell.id == model.cell_id)
                .join(SubmittedNotebook, SubmittedNotebook.id == model.notebook_id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .filter(SubmittedNotebook.assignment_id == submission_id)
                .populate_existing().all())

    grades, maxima = {}, {}
    for grade, cell, notebook in query(Grade):
        grades[(cell.name, notebook)] = grade
        maxima[(cell.name, notebook)] = getattr(cell, "max_score", 0)
    comments = {(cell.name, notebook): comment for comment, cell, notebook in query(Comment)}
    return grades, maxima, comments

def _find(rows: dict, grade_id: str, notebook: str, student: str):
    from nbgrader.api import MissingEntry

    try:
        return rows[(grade_id, notebook)]
    except KeyError:
        raise MissingEntry(f"the gradebook has no cell {grade_id} in {notebook} for {student}; "
                           f"release the assignment again (`course release --force`)") from None


def record(course: Course, assignment: Assignment, result: SubmissionResult,
           writer: GradebookWriter) -> None:
    """Gradebook first, then the student's files (results.json last marks the student done)."""
    grades = writer.write(result)
    autograded = course.folder("autograded", assignment.name, result.student)
    submitted = course.folder("submitted", assignment.name, result.student)
    _copy_notebooks(submitted, autograded, assignment)
    _copy_timestamp(submitted, autograded)
    refresh_outputs(course, assignment, result.student, result, grades)  # a grader's scores too


def write_gradebook(course: Course, assignment: Assignment, result: SubmissionResult) -> dict[str, ItemGrade]:
    """One result into the gradebook, opening it for just that (see GradebookWriter.write)."""
    with GradebookWriter(course, assignment) as writer:
        return writer.write(result)


def submitted_timestamp(course: Course, assignment: Assignment, student: str):
    """The hand-in time of submitted/<student>/<assignment>/timestamp.txt as nbgrader keeps it (naive UTC),
    or None if there is none that can be read (the grader's notes say so)."""
    when = handin_time(course.folder("submitted", assignment.name, student))[0]
    return when.replace(tzinfo=None) if when is not None else None


def course_id(assignment: Assignment) -> str:
    """nbgrader's course id: the library package's name, as the course's nbgrader_config.py sets it."""
    return assignment.package


def _copy_notebooks(src: Path, dest: Path, assignment: Assignment) -> None:
    """So formgrader can open what the student handed in: regular files only (no
    links, FIFOs or devices), at most MAX_NOTEBOOK_BYTES."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in assignment.notebooks:
        _copy(src, dest, f"{name}.ipynb", MAX_NOTEBOOK_BYTES)


def _copy_timestamp(src: Path, dest: Path) -> None:
    """nbgrader's autograde keeps the hand-in's timestamp.txt beside the graded notebooks; so does the kit."""
    _copy(src, dest, "timestamp.txt", 1000)


def _copy(src: Path, dest: Path, name: str, cap: int) -> None:
    """``src/name`` to ``dest/name`` through safefs, replaced atomically; one that is gone (or
    refused) leaves no stale copy behind."""
    data = safefs.read_capped(src, name, cap)
    if isinstance(data, safefs.Problem):
        (dest / name).unlink(missing_ok=True)
    else:
        write_atomic(dest / name, data)
