"""What goes back to a student: Gradescope's results.json and a feedback page.

Both are built from a SubmissionResult, which holds what the visible checks
printed and why items failed — never hidden test code, hidden inputs or
reference code, since the grader never puts those into it — and from the
student's grades in the gradebook, which add what graders set by hand.

A written answer no one has graded yet is shown as "awaiting manual grading":
in results.json it is a test with ``max_score`` and that ``output`` but no
``score`` and no ``status`` (Gradescope takes the top-level ``score``, so a
test's own is optional), and it counts in no total.  Once a grader scored it
in the formgrader, its score and comment are shown; :func:`refresh_outputs`
re-renders both files from the stored result and the gradebook.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Mapping

from coursekit.results import SubmissionResult, read_result
from coursekit.safefs import write_atomic
from coursekit.inert import meta_csp
from coursekit.timestamps import TIMESTAMP, format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from coursekit.assignment import Assignment
    from coursekit.course import Course
    from coursekit.gradebook import ItemGrade

AWAITING_TEXT = "awaiting manual grading"
NO_ANSWER = {"unanswered": "no answer: the answer cell is as released",
             "missing": "no answer: the answer cell is not in the hand-in"}


@dataclass(frozen=True)
class Row:
    """One graded item as the student sees it."""

    grade_id: str
    title: str
    max_points: float | None
    points: float | None  # None: awaiting manual grading
    reason: str
    written: bool = False
    passed: bool = False
    by_grader: bool = False
    comment: str = ""
    visible: str = ""
    advice: tuple[str, ...] = ()


def rows(result: SubmissionResult, assignment: Assignment | None = None,
         grades: Mapping[str, ItemGrade] | None = None) -> list[Row]:
    """The autograded items as graded (a grader's score where one was set by hand) and the
    written ones as the gradebook has them, in the declaration's order if it is given."""
    grades = grades or {}
    out: dict[str, Row] = {}
    for item in result.items:
        grade = grades.get(item.grade_id)
        if grade is not None and grade.by_grader and not grade.awaiting:
            out[item.grade_id] = Row(item.grade_id, item.title, item.max_points, grade.score,
                                     f"score set by a grader (the checks: {item.reason}, {item.points:g} points)",
                                     passed=grade.score >= item.max_points, by_grader=True, comment=grade.comment,
                                     visible=item.visible, advice=tuple(item.advice))
        else:
            out[item.grade_id] = Row(item.grade_id, item.title, item.max_points, item.points, item.reason,
                                     passed=item.passed, visible=item.visible, advice=tuple(item.advice))
    for grade_id, status in result.written.items():
        grade = grades.get(grade_id)
        declared = next((i for i in assignment.manual_items if i.grade_id == grade_id), None) if assignment else None
        max_points = declared.points if declared else grade.max_points if grade else None
        if grade is not None and grade.by_grader and not grade.awaiting:
            row = Row(grade_id, "written answer", max_points, grade.score, "graded by hand", True,
                      max_points is not None and grade.score >= max_points, True, grade.comment)
        elif grade is not None:  # the gradebook decides: awaiting, or nbgrader's 0 for no answer
            row = Row(grade_id, "written answer", max_points, grade.score,
                      AWAITING_TEXT if grade.awaiting else NO_ANSWER.get(status, "no answer"), True,
                      comment=grade.comment)
        else:  # no gradebook row: what the hand-in says
            row = Row(grade_id, "written answer", max_points, None if status == "answered" else 0.0,
                      AWAITING_TEXT if status == "answered" else NO_ANSWER.get(status, "no answer"), True)
        out[grade_id] = row
    if assignment is not None:
        order = [i.grade_id for i in assignment.items if i.grade_id in out]
        order += [g for g in out if g not in order]
        return [out[g] for g in order]
    return list(out.values())


def _score(table: list[Row]) -> tuple[float, float, float]:
    """(points so far, points possible, points awaiting manual grading)."""
    scored = sum(r.points for r in table if r.points is not None)
    possible = sum(r.max_points or 0 for r in table)
    awaiting = sum(r.max_points or 0 for r in table if r.points is None)
    return scored, possible, awaiting


def results_json(result: SubmissionResult, assignment: Assignment | None = None,
                 grades: Mapping[str, ItemGrade] | None = None) -> dict:
    """Gradescope's autograder format: one test per grade id; the top-level score counts
    only what has been graded (a written answer awaiting manual grading has no score)."""
    table = rows(result, assignment, grades)
    tests = []
    for row in table:
        test: dict = {"name": row.grade_id}
        if row.points is None:
            test.update({"max_score": row.max_points, "output": AWAITING_TEXT})
            if row.max_points is None:
                del test["max_score"]
            tests.append(test)
            continue
        output = [row.reason]
        if row.comment:
            output.append(f"grader's comment: {row.comment}")
        output += [f"advice: {a}" for a in row.advice]
        if row.visible:
            output += ["", row.visible]
        test.update({"score": row.points, "max_score": row.max_points,
                     "status": "passed" if row.passed else "failed", "output": "\n".join(output)})
        if row.max_points is None:
            del test["max_score"]
        tests.append(test)
    scored, _, awaiting = _score(table)
    notes = list(result.notes)
    if awaiting:
        notes.append(f"Written answers worth {awaiting:g} points are {AWAITING_TEXT}; "
                     f"the score counts only what has been graded so far.")
    return {
        "score": scored,
        "execution_time": round(result.seconds, 2),
        "output": "\n".join(notes),
        "tests": tests,
        "extra_data": {"student": result.student, "assignment": result.assignment,
                       "fingerprint": result.fingerprint, "sandboxed": result.sandboxed,
                       "awaiting_manual_grading": [r.grade_id for r in table if r.points is None],
                       "result": result.to_dict()},
    }


def _points(row: Row) -> str:
    if row.points is None:
        return AWAITING_TEXT
    return f"{row.points:g} / {row.max_points:g}" if row.max_points is not None else f"{row.points:g}"


def feedback_html(result: SubmissionResult, assignment: Assignment | None = None,
                  grades: Mapping[str, ItemGrade] | None = None) -> str:
    """The student's page.  Everything from the result and the gradebook (reasons quoting the
    student's exceptions, what their code printed, a grader's comment) is escaped text, and the
    page's Content-Security-Policy lets nothing run or load (it has no script)."""
    table = rows(result, assignment, grades)
    scored, possible, awaiting = _score(table)
    lines, details = [], []
    for row in table:
        mark = "pending" if row.points is None else "pass" if row.passed else "fail"
        title = html.escape(row.title or row.grade_id)
        grade_id = html.escape(row.grade_id)
        lines.append(f'<tr class="{mark}"><td>{grade_id}</td><td>{title}</td>'
                     f"<td>{html.escape(_points(row))}</td><td>{html.escape(row.reason)}</td></tr>")
        comment = f"<p class='comment'>Grader's comment: {html.escape(row.comment)}</p>" if row.comment else ""
        if row.written:
            if comment:
                details.append(f"<details open><summary>{grade_id}: the grader's comment</summary>"
                               f"{comment}</details>")
            continue
        advice = "".join(f"<p class='advice'>Advice: {html.escape(a)}</p>" for a in row.advice)
        shown = f"<pre>{html.escape(row.visible)}</pre>" if row.visible else "<p>(no output)</p>"
        opened = "" if row.passed else " open"  # what went wrong is what the student came for
        details.append(f"<details{opened}><summary>{grade_id}: what the visible check printed</summary>"
                       f"{comment}{advice}{shown}</details>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    pending = f" <small>(+ {awaiting:g} points {AWAITING_TEXT})</small>" if awaiting else ""
    written = any(r.written for r in table)
    how = "Every autograded item was checked on the handout data and on new inputs, all-or-nothing." \
        if written else "Every item was checked on the handout data and on new inputs.\nAn item is all-or-nothing."
    if written:
        how += " Written answers are graded by hand" + \
            (f"; until then they are {AWAITING_TEXT} and count in no total." if awaiting else ".")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{meta_csp()}
<title>{html.escape(result.assignment)} feedback: {html.escape(result.student)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; }}
tr.pass td:nth-child(3) {{ color: #17702b; }} tr.fail td:nth-child(3) {{ color: #b00020; font-weight: bold; }}
tr.pending td:nth-child(3) {{ color: #555; font-style: italic; }}
pre {{ background: #f6f6f6; padding: .6em; overflow-x: auto; }}
.advice {{ color: #8a5300; }} .comment {{ color: #1a4f8a; }}
</style></head><body>
<h1>{html.escape(result.assignment)}: {scored:g} / {possible:g}{pending}</h1>
<p>Student: {html.escape(result.student)}. {how}</p>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<table><tr><th>item</th><th>what</th><th>points</th><th>result</th></tr>
{''.join(lines)}</table>
<h2>Details</h2>
{''.join(details)}
</body></html>
"""


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)


def write_outputs(result: SubmissionResult, autograded: Path, feedback: Path,
                  assignment: Assignment | None = None, grades: Mapping[str, ItemGrade] | None = None,
                  submitted: Path | None = None) -> None:
    page = feedback_html(result, assignment, grades)
    _write_if_changed(feedback / "feedback.html", page)
    if submitted is not None and assignment is not None:
        write_exchange_feedback(submitted, feedback, assignment.notebooks, page)
    # results.json last: its presence with a matching fingerprint marks the student as done.
    _write_if_changed(autograded / "results.json", json.dumps(results_json(result, assignment, grades), indent=1))


def refresh_outputs(course: Course, assignment: Assignment, student: str,
                    result: SubmissionResult | None = None,
                    grades: Mapping[str, ItemGrade] | None = None) -> bool:
    """Write a student's feedback page and results.json from their result (the stored one in
    results.json unless given) and their grades in the gradebook (read from it unless given),
    so that what a grader set by hand shows.  False if the student has no readable result yet."""
    from coursekit.gradebook import student_grades

    autograded = course.folder("autograded", assignment.name, student)
    if result is None:
        result = read_result(autograded / "results.json")
        if result is None:
            return False
    if grades is None:
        grades = student_grades(course.db_url, assignment, student)
    write_outputs(result, autograded, course.folder("feedback", assignment.name, student), assignment, grades,
                  submitted=course.folder("submitted", assignment.name, student))
    return True


# -- nbgrader's exchange ------------------------------------------------------------------

EXCHANGE_SECRET = "submission_secret.txt"  # written by `nbgrader submit` into the submission
EXCHANGE_TIMESTAMP = TIMESTAMP
_SECRET = re.compile(r"[0-9a-f]{16,1024}")  # nbgrader writes secrets.token_hex(64)
_CAP = 4096


def write_exchange_feedback(submitted: Path, feedback: Path, notebooks: tuple[str, ...] | list[str],
                            page: str) -> list[str]:
    """Make ``feedback/<student>/<assignment>/`` what ``nbgrader release_feedback`` releases.

    nbgrader releases each ``<notebook>.html`` there under a hash of the
    submission's secret (``submission_secret.txt``, written by ``nbgrader
    submit``) and the notebook's name, and ``nbgrader fetch_feedback`` finds it
    for each notebook of the student's own copy of that submission.  So for a
    submission that came through the exchange the kit's page (one for the
    whole submission) is also written as ``<notebook>.html`` for every notebook
    of the assignment, beside the submission's ``timestamp.txt`` and secret.

    A hand-in collected from a zip has no secret: it gets no notebook pages (its
    feedback goes back through the course site), but a ``timestamp.txt`` and a
    secret of the kit's own, so that release_feedback, which reads both for
    every page it finds (``feedback.html`` too), does not stop at it; what it
    releases for that student no fetch can find.

    Everything read comes through safefs, capped; returns the pages written."""
    from coursekit import safefs

    def small_text(rel: str) -> str | None:
        data = safefs.read_capped(submitted, rel, _CAP)
        if isinstance(data, safefs.Problem):
            return None
        try:
            return data.decode("ascii").strip()
        except UnicodeDecodeError:
            return None

    feedback.mkdir(parents=True, exist_ok=True)
    when = parse_timestamp(small_text(EXCHANGE_TIMESTAMP))
    _write_if_changed(feedback / EXCHANGE_TIMESTAMP, format_timestamp(when) if when else "unknown")
    secret = small_text(EXCHANGE_SECRET) if not safefs.folder_problem(submitted) else None
    if secret is None or not _SECRET.fullmatch(secret):
        if not (feedback / EXCHANGE_SECRET).is_file():
            import secrets

            write_atomic(feedback / EXCHANGE_SECRET, secrets.token_hex(64))
        return []
    _write_if_changed(feedback / EXCHANGE_SECRET, secret)
    written = []
    for name in notebooks:
        _write_if_changed(feedback / f"{name}.html", page)
        written.append(f"{name}.html")
    return written
