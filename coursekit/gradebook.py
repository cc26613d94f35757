"""Reading scores back out of nbgrader's gradebook, and the class CSV.

The gradebook is the one record of grades: the autograder's, and what a
grader set by hand in nbgrader's formgrader (a manual score wins, plus any
extra credit, as nbgrader counts it).  A written answer that no one has
graded yet has no score: ``None`` (:data:`AWAITING`) here, shown as
"awaiting" — never as 0, never as full marks, and never counted in a total.
"""
from __future__ import annotations

import csv
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

from nbgrader.api import Gradebook, MissingEntry

from coursekit.assignment import Assignment
from coursekit.safefs import printable
from coursekit.spreadsheet import text_cell

AWAITING = None  # the score of an item awaiting manual grading
AWAITING_TEXT = "awaiting manual grading"
Scores = dict[str, dict[str, float | None]]  # student -> grade_id -> points (None: awaiting manual grading)


@dataclass(frozen=True)
class ItemGrade:
    """One graded item of one submission, as the gradebook holds it."""

    grade_id: str
    max_points: float
    score: float | None  # None: awaiting manual grading
    by_grader: bool = False  # a grader set the score by hand (nbgrader's manual_score)
    comment: str = ""  # the grader's comment (written answers: nbgrader's manual_comment)

    @property
    def awaiting(self) -> bool:
        return self.score is None


def grade_score(grade) -> float | None:
    """An nbgrader Grade's points: the manual score if set, else the automatic one (plus extra
    credit); None if it has neither: it awaits manual grading (nbgrader's ``score`` says 0).
    Computed from the row's fields as nbgrader's ``score`` column is, so it is right for a row
    just changed in this session too."""
    base = grade.manual_score if grade.manual_score is not None else grade.auto_score
    if base is None:
        return AWAITING
    return float(base + (grade.extra_credit or 0.0))


def item_grade(name: str, max_score: float | None, grade, comment: str) -> ItemGrade:
    return ItemGrade(name, float(max_score or 0), grade_score(grade), grade.manual_score is not None, comment)


@contextmanager
def open_gradebook(db_url: str, assignment: Assignment) -> Iterator[Gradebook]:
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        from coursekit.course import CourseError

        raise CourseError(f"no gradebook at {db_url[len('sqlite:///'):]} yet; `course release "
                          f"{assignment.name}` creates it")
    from sqlalchemy.exc import SAWarning

    # nbgrader's own API trips SQLAlchemy 2's autoflush warnings; they are noise here.
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore", SAWarning)
        yield gb


def item_scores(db_url: str, assignment: Assignment) -> Scores:
    """Every submission's score per graded item (a grader's score where one was set;
    None where a written answer awaits manual grading)."""
    scores: Scores = {}
    with open_gradebook(db_url, assignment) as gb:
        try:
            submissions = gb.find_assignment(assignment.name).submissions
        except MissingEntry:
            return {}
        for submission in submissions:
            row = scores.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    row[grade.name] = grade_score(grade)
    return scores


def student_grades(db_url: str, assignment: Assignment, student: str) -> dict[str, ItemGrade]:
    """One submission's grades by grade id, with the graders' comments; {} if it has none."""
    grades: dict[str, ItemGrade] = {}
    with open_gradebook(db_url, assignment) as gb:
        try:
            submission = gb.find_submission(assignment.name, student)
        except MissingEntry:
            return {}
        for nb in submission.notebooks:
            comments = {c.name: c.manual_comment or "" for c in nb.comments}
            for grade in nb.grades:
                grades[grade.name] = item_grade(grade.name, grade.max_score, grade, comments.get(grade.name, ""))
    return grades


def totals(row: dict[str, float | None], assignment: Assignment) -> tuple[float, int]:
    """Points scored so far, and the points of the items still awaiting manual grading."""
    scored = sum(row.get(item.grade_id, 0.0) or 0.0 for item in assignment.items)
    awaiting = sum(item.points for item in assignment.items
                   if item.grade_id in row and row[item.grade_id] is AWAITING)
    return scored, awaiting


def write_csv(scores: Scores, assignment: Assignment, path: Path) -> Path:
    """One row per student: each item's points, then total, max, graded and awaiting.

    An item awaiting manual grading (a written answer no one has graded yet) is the
    text ``awaiting``, not a number; while a student has one, ``total`` is empty, since it
    is not known yet.  ``graded`` is the points scored so far (``total`` once nothing
    awaits), ``awaiting`` the points of the items still to be graded by hand (0 when final).
    A student id a spreadsheet would read as a formula is written as text (:mod:`coursekit.spreadsheet`)."""
    ids = [item.grade_id for item in assignment.items]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *ids, "total", "max", "graded", "awaiting"])
        for student in sorted(scores):
            row = scores[student]
            cells = ["awaiting" if row.get(g, 0.0) is AWAITING else f"{row.get(g, 0.0):g}" for g in ids]
            scored, awaiting = totals(row, assignment)
            writer.writerow([text_cell(student), *cells, "" if awaiting else f"{scored:g}", assignment.total_points,
                             f"{scored:g}", awaiting])
    tmp.replace(path)
    return path


def score_table(scores: Scores, assignment: Assignment) -> str:
    """The per-student, per-item table the demo prints; "awaiting" marks a written answer
    not graded yet, and such a student's total reads "N+?/max"."""
    shown = {student: printable(student, 64) for student in scores}  # ids come from hand-ins: escaped
    width = max([len(s) for s in shown.values()] + [7])
    widths = [max(len(item.grade_id), 4, len("awaiting") if item.manual else 0) for item in assignment.items]
    head = f"{'student':<{width}} " + " ".join(f"{i.grade_id:>{w}}" for i, w in zip(assignment.items, widths)) \
        + "   total"
    lines = [head, f"{'(max)':<{width}} " + " ".join(f"{i.points:>{w}}" for i, w in zip(assignment.items, widths))
             + f"   {assignment.total_points:>2}"]
    pending = False
    for student in sorted(scores):
        row = scores[student]
        cells = []
        for item, w in zip(assignment.items, widths):
            value = row.get(item.grade_id, 0.0)
            cells.append(f"{'awaiting':>{w}}" if value is AWAITING else f"{value:>{w}g}")
        scored, awaiting = totals(row, assignment)
        pending |= bool(awaiting)
        total = f"{scored:g}+?" if awaiting else f"{scored:g}"
        lines.append(f"{shown[student]:<{width}} {' '.join(cells)}   {total}/{assignment.total_points}")
    if pending:
        lines.append("")
        lines.append("awaiting: a written answer not graded yet (grade it in nbgrader's formgrader); "
                     "N+?: N points so far, those answers still to come")
    return "\n".join(lines)
