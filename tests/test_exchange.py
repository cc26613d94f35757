"""JupyterHub's exchange, round trip, with plain nbgrader commands and an exchange folder of the test's own.

The instructor runs `nbgrader release_assignment` on the kit's release; each
student, in a home folder of their own, runs `nbgrader fetch_assignment`,
fills in the library and runs `nbgrader submit`; the instructor runs `nbgrader
collect` and `course autograde`, which grades such a submission exactly like
the same folder handed in as a zip through `course collect`; then `nbgrader
release_feedback` and the student's `nbgrader fetch_feedback` deliver the
kit's feedback page, once for each notebook (what fetch_feedback looks for).

All runs as one user, so the student is named with `--student` (nbgrader
otherwise takes the login name).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.feedback import write_exchange_feedback
from coursekit.results import read_result
from coursekit.runtime.handin.bundle import write_zip
from coursekit.runtime.handin.spec import spec_of
from coursekit.samples import hand_in_reference

from kitcourse import KIT1

COURSE_ID = "test"  # what the kit course's nbgrader_config.py sets as CourseDirectory.course_id (write_settings)


def nbgrader(cwd: Path, *args: str, home: Path | None = None) -> str:
    env = dict(os.environ)
    if home is not None:  # a student: their own home (nbgrader's cache lives there), no course config
        env["HOME"] = str(home)
        env.pop("JUPYTER_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stderr


def as_student(home: Path, exchange: Path, student: str, *args: str) -> str:
    return nbgrader(home, *args, f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}",
                    f"--student={student}", home=home)


def scores(course, student: str):
    result = read_result(course.folder("autograded", KIT1.name, student) / "results.json")
    assert result is not None, f"{student} was not graded"
    return result


@pytest.mark.slow  # nbgrader's commands, each a process of its own
def test_release_fetch_submit_collect_grade_and_feedback_through_the_exchange(kit_copy, tmp_path):
    course, exchange = kit_copy, tmp_path / "exchange"
    exchange.mkdir()
    nbgrader(course.root, "release_assignment", KIT1.name, f"--Exchange.root={exchange}")

    released = course.folder("release", KIT1.name)
    inbox = tmp_path / "zips"
    inbox.mkdir()
    homes = {}
    for student, reference in (("ada", True), ("bob", False)):
        home = homes[student] = tmp_path / "home" / student
        home.mkdir(parents=True)
        as_student(home, exchange, student, "fetch_assignment", KIT1.name)
        mine = home / KIT1.name
        # Everything of the release reaches the student: notebooks, library stubs, shipped kit, data.
        assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*") if p.is_file()) == \
            sorted(p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file())
        if reference:
            hand_in_reference(KIT1, course.repo, mine)
        as_student(home, exchange, student, "submit", KIT1.name)
        # The same folder, handed in as a zip (what handin.py writes) for a twin student.
        write_zip(mine, spec_of(KIT1), {}, {"id": f"{student}-zip"}, inbox / f"{student}-zip.zip")

    nbgrader(course.root, "collect", KIT1.name, f"--Exchange.root={exchange}")
    for student in homes:
        got = course.folder("submitted", KIT1.name, student)
        assert (got / "timestamp.txt").is_file() and (got / "submission_secret.txt").is_file()
        assert (got / KIT1.package).is_dir()
    assert main(["--course", str(course.root), "collect", KIT1.name, str(inbox)]) == 0
    assert main(["--course", str(course.root), "autograde", KIT1.name, "-j", "2"]) == 0

    for student, expected in (("ada", KIT1.auto_points), ("bob", 0)):
        through_exchange, as_zip = scores(course, student), scores(course, f"{student}-zip")
        assert sum(item.points for item in through_exchange.items) == expected
        assert [(i.grade_id, i.points, i.reason) for i in through_exchange.items] == \
            [(i.grade_id, i.points, i.reason) for i in as_zip.items]
        assert through_exchange.notes == as_zip.notes  # nbgrader's own files are no "extra files"

    nbgrader(course.root, "release_feedback", KIT1.name, f"--Exchange.root={exchange}")
    for student, home in homes.items():
        as_student(home, exchange, student, "fetch_feedback", KIT1.name)
        page = (course.folder("feedback", KIT1.name, student) / "feedback.html").read_text(encoding="utf-8")
        fetched = list((home / KIT1.name / "feedback").glob("*/*.html"))
        assert sorted(p.stem for p in fetched) == sorted(KIT1.notebooks)
        assert all(p.read_text(encoding="utf-8") == page for p in fetched)
        # 19 of the 20 points are autograded; ada's written answer awaits its TA, bob's is blank (0).
        assert {"ada": "kit1: 19 / 20 <small>(+ 1 points awaiting manual grading)</small></h1>",
                "bob": "kit1: 0 / 20</h1>"}[student] in page


def test_only_an_exchange_submission_gets_notebook_pages_and_a_bad_secret_is_not_used(tmp_path):
    submitted, feedback = tmp_path / "submitted", tmp_path / "feedback"
    submitted.mkdir()
    (submitted / "timestamp.txt").write_text("2025-01-10 12:00:00.000000 UTC")
    # A zip hand-in: no secret.  release_feedback still finds a timestamp and a secret (the kit's own).
    assert write_exchange_feedback(submitted, feedback, ["A", "B"], "<p>page</p>") == []
    assert sorted(p.name for p in feedback.iterdir()) == ["submission_secret.txt", "timestamp.txt"]
    kit_secret = (feedback / "submission_secret.txt").read_text()
    assert write_exchange_feedback(submitted, feedback, ["A", "B"], "<p>page</p>") == []
    assert (feedback / "submission_secret.txt").read_text() == kit_secret  # stable across runs
    (submitted / "submission_secret.txt").write_text("../../etc/passwd\n")
    assert write_exchange_feedback(submitted, feedback, ["A", "B"], "<p>page</p>") == []
    (submitted / "submission_secret.txt").write_text("ab12" * 32)
    assert write_exchange_feedback(submitted, feedback, ["A", "B"], "<p>page</p>") == ["A.html", "B.html"]
    assert (feedback / "submission_secret.txt").read_text() == "ab12" * 32
    assert (feedback / "A.html").read_text() == (feedback / "B.html").read_text() == "<p>page</p>"
    assert (feedback / "timestamp.txt").read_text() == "2025-01-10 12:00:00.000000 UTC"
