"""Written (manually graded) answers: released blank, autograded as nbgrader does, shown as
"awaiting manual grading" until a grader scores them, then with the grader's score everywhere.

A small course of its own: one autograded item (3 points) and one written answer (2 points)
in one notebook, released by real nbgrader and graded in the sandbox."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.autograde import sandbox
from coursekit.course import Course

if not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

REPO = Path(__file__).resolve().parent.parent
NAME = "hww"
MODEL_ANSWER = "Doubling is linear, so its gradient is the constant two."
STUDENT_ANSWER = "Because double(x) = 2x, the gradient is 2 everywhere."
TA_COMMENT = "Right, but say why it does not depend on x."

DECLARATION = """\
title = "Written answers"
notebooks = ["Nb"]
checks = "source/hww/checks.py"
fixture = "data/fix.npz"
total_points = 5

[library]
package = "mytorch"
[library.student]
"mytorch/nn/core.py" = ["double"]
[library.given]
files = ["mytorch/__init__.py", "mytorch/nn/__init__.py"]

[[items]]
grade_id = "twice"
points = 3
notebook = "Nb"
files = ["mytorch/nn/core.py"]

[[written]]
grade_id = "why"
points = 2
notebook = "Nb"
"""
CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return x + x
    ### END SOLUTION
'''
CHECKS = '''from coursekit.runtime.checks import Check, Checks

checks = Checks()
checks.add(Check("twice", "double", lambda rng, shape: {"x": rng.standard_normal(3)},
                 lambda mt, x: {"y": mt.nn.double(x["x"])}, lambda x: {"y": 2 * x["x"]}))
'''


def nbgrader_meta(grade_id: str, *, solution: bool, points: int) -> dict:
    return {"nbgrader": {"grade": True, "grade_id": grade_id, "locked": not solution, "points": points,
                         "schema_version": 3, "solution": solution, "task": False}}


def write_course(root: Path) -> Course:
    (root / "mytorch" / "nn").mkdir(parents=True)
    (root / "mytorch" / "__init__.py").write_text("from mytorch import nn\n")
    (root / "mytorch" / "nn" / "__init__.py").write_text("from mytorch.nn.core import double\n")
    (root / "mytorch" / "nn" / "core.py").write_text(CORE)
    src = root / "source" / NAME
    src.mkdir(parents=True)
    (src / "assignment.toml").write_text(DECLARATION)
    (src / "checks.py").write_text(CHECKS)
    # The fixture its checks give: validate (and so release) refuses any other.
    from coursekit.assignment import load_assignment
    from coursekit.fixtures import build, write_npz

    declared = load_assignment(root, NAME)
    write_npz(root / declared.fixture, build(declared, root))
    nb = new_notebook(cells=[
        new_markdown_cell("# Doubling"),
        new_code_cell('from coursekit.runtime.checks.tester import check\ncheck("twice")\n'
                      '### BEGIN HIDDEN TESTS\ncheck("twice", seed=1)\n### END HIDDEN TESTS',
                      metadata=nbgrader_meta("twice", solution=False, points=3)),
        new_markdown_cell("Why is the gradient of `double` constant?"),
        new_markdown_cell(f"### BEGIN SOLUTION\n{MODEL_ANSWER}\n### END SOLUTION",
                          metadata=nbgrader_meta("why", solution=True, points=2)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "Nb.ipynb")
    # The repo's nbgrader settings, with this kit (not an installed one) first on nbgrader's path.
    config = (REPO / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" + config)
    return Course(root)


def set_answer(folder: Path, text: str | None) -> None:
    """Write the student's answer into the written cell (None: delete the cell)."""
    path = folder / "Nb.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "why")
    if text is None:
        nb.cells.remove(cell)
    else:
        cell.source = text
    nbformat.write(nb, path)


def results(course: Course, student: str) -> dict:
    return json.loads((course.folder("autograded", NAME, student) / "results.json").read_text())


def test_of(data: dict, name: str) -> dict:
    return next(t for t in data["tests"] if t["name"] == name)


test_of.__test__ = False


def feedback(course: Course, student: str) -> str:
    return (course.folder("feedback", NAME, student) / "feedback.html").read_text()


def export(course: Course, tmp_path: Path) -> dict[str, dict[str, str]]:
    from coursekit.cli import main

    out = tmp_path / "grades.csv"
    assert main(["--course", str(course.root), "export", NAME, "-o", str(out)]) == 0
    return {r["student"]: r for r in csv.DictReader(out.open())}


def scores_table(course: Course, capsys) -> dict[str, str]:
    from coursekit.cli import main

    capsys.readouterr()
    assert main(["--course", str(course.root), "scores", NAME]) == 0
    out = capsys.readouterr().out
    return {line.split()[0]: line for line in out.splitlines() if line.strip()} | {"": out}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from coursekit.autograde.run import autograde
    from coursekit.release import release
    from coursekit.samples import copy_release, hand_in_reference

    course = write_course(tmp_path_factory.mktemp("written") / "course")
    assignment = course.assignment(NAME)
    assert [i.grade_id for i in assignment.manual_items] == ["why"]
    release(assignment, course, force=True)
    released = (course.folder("release", NAME) / "Nb.ipynb").read_text()
    assert MODEL_ANSWER not in released and "YOUR ANSWER HERE" in released  # released blank
    folders = {s: copy_release(course.folder("release", NAME), course.folder("submitted", NAME, s))
               for s in ("ada", "bob", "cy")}
    for student in ("ada", "cy"):
        hand_in_reference(assignment, course.repo, folders[student])
    set_answer(folders["ada"], STUDENT_ANSWER)  # answered; bob leaves the cell as released
    set_answer(folders["cy"], None)  # cy deleted the answer cell
    summary = autograde(assignment, course, jobs=2, progress=False)
    assert sorted(summary.graded) == ["ada", "bob", "cy"], summary.failed
    return course, assignment


def gradebook_grade(course: Course, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        grade = gb.find_grade("why", "Nb", NAME, student)
        comment = gb.find_comment("why", "Nb", NAME, student)
        return (grade.auto_score, grade.manual_score, grade.needs_manual_grade,
                comment.auto_comment, comment.manual_comment)


def grade_by_hand(course: Course, student: str, score: float, text: str) -> None:
    """What nbgrader's formgrader does when a grader scores a written answer and comments."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        grade = gb.find_grade("why", "Nb", NAME, student)
        grade.manual_score = score
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.find_comment("why", "Nb", NAME, student).manual_comment = text
        gb.db.commit()


# --- before a grader has looked ----------------------------------------------------------


def test_an_answered_written_item_waits_for_a_grader_in_the_gradebook(graded):
    course, assignment = graded
    assert gradebook_grade(course, "ada") == (None, None, True, None, None)
    # Left as released, or not handed in: 0, as nbgrader's autograde does, and nothing to grade.
    assert gradebook_grade(course, "bob")[:3] == (0.0, None, False)
    assert gradebook_grade(course, "cy")[:3] == (0.0, None, False)
    assert gradebook_grade(course, "bob")[3] == "No response."


def test_item_scores_say_awaiting_never_a_number(graded):
    from coursekit.gradebook import AWAITING, item_scores

    course, assignment = graded
    scores = item_scores(course.db_url, assignment)
    assert scores["ada"] == {"twice": 3.0, "why": AWAITING} and AWAITING is None
    assert scores["bob"] == {"twice": 0.0, "why": 0.0}
    assert scores["cy"] == {"twice": 3.0, "why": 0.0}


def test_course_scores_shows_awaiting_and_an_open_total(graded, capsys):
    course, _ = graded
    table = scores_table(course, capsys)
    assert table["ada"].split()[1:] == ["3", "awaiting", "3+?/5"]
    assert table["bob"].split()[1:] == ["0", "0", "0/5"]
    assert table["cy"].split()[1:] == ["3", "0", "3/5"]
    assert "awaiting: a written answer not graded yet" in table[""]  # the footnote


def test_course_export_writes_awaiting_and_no_total_yet(graded, tmp_path):
    course, _ = graded
    rows = export(course, tmp_path)
    assert {k: rows["ada"][k] for k in ("twice", "why", "total", "max", "graded", "awaiting")} == \
        {"twice": "3", "why": "awaiting", "total": "", "max": "5", "graded": "3", "awaiting": "2"}
    assert {k: rows["bob"][k] for k in ("why", "total", "graded", "awaiting")} == \
        {"why": "0", "total": "0", "graded": "0", "awaiting": "0"}


def test_the_plot_leaves_out_what_is_not_graded(graded, tmp_path, monkeypatch):
    from coursekit import gradeplots as report
    from coursekit.gradebook import item_scores

    course, assignment = graded
    seen = {}
    import matplotlib.axes

    monkeypatch.setattr(matplotlib.axes.Axes, "hist", lambda self, x, **kw: seen.setdefault("hist", list(x)))
    path = report.plot_grades(item_scores(course.db_url, assignment), assignment, tmp_path / "p.png")
    assert path.stat().st_size > 0
    assert sorted(seen["hist"]) == [0.0, 3.0]  # bob and cy; ada's total is not known yet


def test_results_json_lists_the_written_item_as_awaiting_without_a_score(graded):
    course, _ = graded
    data = results(course, "ada")
    assert [t["name"] for t in data["tests"]] == ["twice", "why"]
    why = test_of(data, "why")
    assert why == {"name": "why", "max_score": 2, "output": "awaiting manual grading"}  # no score, no status
    assert data["score"] == 3  # what is graded so far; the written answer counts nowhere yet
    assert "awaiting manual grading" in data["output"]
    assert data["extra_data"]["awaiting_manual_grading"] == ["why"]
    for student, reason in (("bob", "as released"), ("cy", "not in the hand-in")):
        why = test_of(results(course, student), "why")
        assert why["score"] == 0 and why["max_score"] == 2 and why["status"] == "failed"
        assert reason in why["output"] and "awaiting" not in why["output"]
    assert MODEL_ANSWER not in json.dumps(data)


def test_feedback_page_says_awaiting_not_zero(graded):
    course, _ = graded
    page = feedback(course, "ada")
    assert '<tr class="pending"><td>why</td>' in page
    assert "<td>awaiting manual grading</td>" in page
    assert "0 / 2" not in page and "2 / 2" not in page
    assert "<h1>hww: 3 / 5 <small>(+ 2 points awaiting manual grading)</small></h1>" in page
    bob = feedback(course, "bob")
    assert "awaiting" not in bob and "<td>0 / 2</td>" in bob and "<h1>hww: 0 / 5</h1>" in bob


# --- after a grader scored it in the formgrader --------------------------------------------


@pytest.fixture(scope="module")
def hand_graded(graded):
    course, assignment = graded
    grade_by_hand(course, "ada", 1.5, TA_COMMENT)
    return course, assignment


def shows_the_grader_s_score(course: Course, assignment, capsys, tmp_path) -> None:
    from coursekit.gradebook import item_scores

    assert gradebook_grade(course, "ada") == (None, 1.5, False, None, TA_COMMENT)
    assert item_scores(course.db_url, assignment)["ada"] == {"twice": 3.0, "why": 1.5}
    assert scores_table(course, capsys)["ada"].split()[1:] == ["3", "1.5", "4.5/5"]
    row = export(course, tmp_path)["ada"]
    assert (row["why"], row["total"], row["graded"], row["awaiting"]) == ("1.5", "4.5", "4.5", "0")
    data = results(course, "ada")
    why = test_of(data, "why")
    assert (why["score"], why["max_score"]) == (1.5, 2) and TA_COMMENT in why["output"]
    assert data["score"] == 4.5 and "awaiting" not in json.dumps(data["tests"]) + data["output"]
    page = feedback(course, "ada")
    assert "<td>1.5 / 2</td>" in page and TA_COMMENT in page and "awaiting" not in page
    assert "<h1>hww: 4.5 / 5</h1>" in page


def test_scores_and_export_read_the_grader_s_score_at_once(hand_graded, capsys, tmp_path):
    from coursekit.gradebook import item_scores

    course, assignment = hand_graded
    assert item_scores(course.db_url, assignment)["ada"]["why"] == 1.5
    assert scores_table(course, capsys)["ada"].split()[1:] == ["3", "1.5", "4.5/5"]
    assert "awaiting" not in scores_table(course, capsys)[""]


def test_rerunning_autograde_shows_the_grader_s_score_and_keeps_it(hand_graded, capsys, tmp_path):
    from coursekit.autograde.run import autograde

    course, assignment = hand_graded
    assert "awaiting" in feedback(course, "ada")  # written by the first run
    summary = autograde(assignment, course, jobs=1, progress=False)
    assert sorted(summary.skipped) == ["ada", "bob", "cy"] and summary.graded == []
    shows_the_grader_s_score(course, assignment, capsys, tmp_path)
    bob_before = results(course, "bob")

    summary = autograde(assignment, course, jobs=2, progress=False, force=True)
    assert sorted(summary.graded) == ["ada", "bob", "cy"], summary.failed
    shows_the_grader_s_score(course, assignment, capsys, tmp_path)  # the manual score survived
    assert results(course, "bob")["tests"] == bob_before["tests"]


def test_refresh_outputs_renders_from_result_and_gradebook(hand_graded, tmp_path):
    from coursekit.feedback import refresh_outputs

    course, assignment = hand_graded
    grade_by_hand(course, "ada", 2, "Full marks after all.")
    try:
        assert refresh_outputs(course, assignment, "ada")
        why = test_of(results(course, "ada"), "why")
        assert why["score"] == 2 and why["status"] == "passed" and "Full marks after all." in why["output"]
        assert "<h1>hww: 5 / 5</h1>" in feedback(course, "ada")
        assert not refresh_outputs(course, assignment, "nobody")
    finally:
        grade_by_hand(course, "ada", 1.5, TA_COMMENT)
        refresh_outputs(course, assignment, "ada")


def test_a_grader_clearing_the_score_makes_it_await_again(graded, tmp_path):
    """The formgrader sets needs_manual_grade again when a score is removed; so does everything here."""
    from coursekit.autograde.record import write_gradebook
    from coursekit.results import read_result
    from coursekit.gradebook import item_scores

    course, assignment = graded
    root = tmp_path / "copy"
    shutil.copytree(course.root, root)
    copy = Course(root)
    grade_by_hand(copy, "ada", None, "")
    assert item_scores(copy.db_url, assignment)["ada"]["why"] is None
    write_gradebook(copy, assignment, read_result(copy.folder("autograded", NAME, "ada") / "results.json"))
    assert gradebook_grade(copy, "ada")[:3] == (None, None, True)
