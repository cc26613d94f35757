"""Reading scores back out of nbgrader's gradebook, and the class CSV."""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from coursekit.assignment import Assignment

Scores = dict[str, dict[str, float]]  # student -> grade_id -> points


def item_scores(db_url: str, assignment: Assignment) -> Scores:
    """Every submission's score per graded item (manual score where a grader set one)."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        from coursekit.course import CourseError

        raise CourseError(f"no gradebook at {db_url[len('sqlite:///'):]} yet; `course release "
                          f"{assignment.name}` creates it")
    scores: Scores = {}
    with Gradebook(db_url) as gb:
        try:
            submissions = gb.find_assignment(assignment.name).submissions
        except MissingEntry:
            return {}
        for submission in submissions:
            row = scores.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    row[grade.name] = float(grade.score)
    return scores


def write_csv(scores: Scores, assignment: Assignment, path: Path) -> Path:
    """One row per student: each item's points, then the total."""
    ids = [item.grade_id for item in assignment.items]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *ids, "total", "max"])
        for student in sorted(scores):
            row = scores[student]
            points = [row.get(g, 0.0) for g in ids]
            writer.writerow([student, *(f"{p:g}" for p in points), f"{sum(points):g}", assignment.total_points])
    tmp.replace(path)
    return path


def score_table(scores: Scores, assignment: Assignment) -> str:
    """The per-student, per-item table the demo prints."""
    ids = [item.grade_id for item in assignment.items]
    width = max([len(s) for s in scores] + [7])
    head = f"{'student':<{width}} " + " ".join(f"{g:>{max(len(g), 4)}}" for g in ids) + "   total"
    lines = [head, f"{'(max)':<{width}} " + " ".join(
        f"{item.points:>{max(len(item.grade_id), 4)}}" for item in assignment.items)
        + f"   {assignment.total_points:>2}"]
    for student in sorted(scores):
        row = scores[student]
        cells = " ".join(f"{row.get(g, 0):>{max(len(g), 4)}g}" for g in ids)
        total = sum(row.get(g, 0) for g in ids)
        lines.append(f"{student:<{width}} {cells}   {total:g}/{assignment.total_points}")
    return "\n".join(lines)
