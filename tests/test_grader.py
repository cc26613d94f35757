"""The sandboxed grader's outputs: gradebook, results.json, feedback; re-runs and crashes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.cases import read_cases
from coursekit.autograde.run import autograde
from coursekit.gradebook import item_scores
from coursekit.samples import copy_release, hand_in_reference, make_samples

from conftest import copy_course
from kitcourse import BUGGY_LOST, KIT1, auto_totals, write_course

# Hand-derived: the 19 autograded points; buggy (kitcourse.SAMPLES) loses tanh, mse_backward,
# linear_init (1 each) and slope (2).  The written item is never in these: a TA grades it.
AUTO = {"reference": 19, "blank": 0, "buggy": 14}


if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)


@pytest.fixture(scope="module")
def graded(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("grader") / "course")
    make_samples(KIT1, course)
    summary = autograde(KIT1, course, jobs=2, progress=False)
    assert sorted(summary.graded) == ["blank", "buggy", "reference"]
    return course


def test_the_hand_derived_totals_agree_with_the_declaration():
    assert KIT1.auto_points == AUTO["reference"] and KIT1.total_points == AUTO["reference"] + 1
    assert AUTO["buggy"] == AUTO["reference"] - sum(BUGGY_LOST.values())


def test_results_json_is_gradescope_shaped(graded):
    data = json.loads((graded.folder("autograded", "kit1", "buggy") / "results.json").read_text())
    assert data["score"] == AUTO["buggy"]  # what is graded so far: the written answer awaits its TA
    assert [t["name"] for t in data["tests"]] == [i.grade_id for i in KIT1.items]
    for test in data["tests"]:
        assert test["max_score"] == KIT1.item(test["name"]).points
        if KIT1.item(test["name"]).manual:
            assert "score" not in test and test["output"] == "awaiting manual grading", test
        else:
            assert set(test) >= {"name", "score", "max_score", "output"}
    tanh = next(t for t in data["tests"] if t["name"] == "tanh")
    assert tanh["score"] == 0 and "dAdH: values differ" in tanh["output"]
    # What the visible check printed, MyTorch next to PyTorch, is there for the student.
    assert "MyTorch:" in tanh["output"] and "PyTorch:" in tanh["output"]


def test_feedback_and_results_never_show_hidden_tests(graded):
    cases = read_cases(KIT1, graded.folder("source", "kit1"))
    hidden_calls = []
    for item_cases in cases.values():
        for case in item_cases[1:]:
            hidden_calls.append(f"seed={case['seed']}")
    assert hidden_calls
    for student in ("reference", "blank", "buggy"):
        texts = [(graded.folder("feedback", "kit1", student) / "feedback.html").read_text(),
                 (graded.folder("autograded", "kit1", student) / "results.json").read_text()]
        for text in texts:
            assert "BEGIN HIDDEN TESTS" not in text
            assert not [c for c in hidden_calls if c in text]
            assert "### BEGIN SOLUTION" not in text and "def forward" not in text


def test_gradebook_matches_nbgrader_export_and_course_export(graded, tmp_path):
    import csv

    scores = item_scores(graded.db_url, KIT1)
    assert auto_totals(scores) == AUTO
    # The model answer awaits its TA; the blank hand-in's "YOUR ANSWER HERE" is 0.
    assert {s: v["why"] for s, v in scores.items()} == {"reference": None, "blank": 0, "buggy": None}
    out = tmp_path / "export.csv"
    graded.nbgrader("export", f"--to={out}")
    rows = list(csv.DictReader(out.open()))
    # nbgrader counts an ungraded written answer as 0.
    assert {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == "kit1"} == \
        {s: float(v) for s, v in AUTO.items()}
    from coursekit.cli import main

    assert main(["--course", str(graded.root), "export", "kit1", "-o", str(tmp_path / "c.csv")]) == 0
    ours = {r["student"]: r for r in csv.DictReader((tmp_path / "c.csv").open())}
    # A total is known only once nothing awaits a TA: the blank hand-in's.
    assert {s: (r["total"], float(r["graded"]), r["awaiting"]) for s, r in ours.items()} == \
        {"reference": ("", 19.0, "1"), "blank": ("0", 0.0, "0"), "buggy": ("", 14.0, "1")}
    assert ours["buggy"]["tanh"] == "0" and ours["buggy"]["relu"] == "1" and ours["buggy"]["max"] == "20"
    assert ours["buggy"]["why"] == "awaiting"


def test_rerunning_is_idempotent_and_skips_unchanged(graded):
    before = (graded.folder("autograded", "kit1", "buggy") / "results.json").read_text()
    summary = autograde(KIT1, graded, jobs=2, progress=False)
    assert sorted(summary.skipped) == ["blank", "buggy", "reference"] and summary.graded == []
    assert (graded.folder("autograded", "kit1", "buggy") / "results.json").read_text() == before
    assert auto_totals(item_scores(graded.db_url, KIT1)) == AUTO


def test_a_changed_submission_is_regraded(graded):
    folder = graded.folder("submitted", "kit1", "blank")
    hand_in_reference(KIT1, graded.repo, folder)
    try:
        summary = autograde(KIT1, graded, jobs=1, progress=False)
        assert summary.graded == ["blank"]
        assert auto_totals(item_scores(graded.db_url, KIT1))["blank"] == AUTO["reference"]
    finally:
        copy_release(graded.folder("release", "kit1"), folder)
        autograde(KIT1, graded, jobs=1, progress=False)


def test_a_run_killed_half_way_resumes(kit_course, tmp_path):
    course = copy_course(kit_course, tmp_path / "course")
    release = course.folder("release", "kit1")
    students = [f"s{i:02d}" for i in range(8)]
    for i, student in enumerate(students):
        dest = copy_release(release, course.folder("submitted", "kit1", student))
        if i % 2 == 0:
            hand_in_reference(KIT1, course.repo, dest)
    proc = subprocess.Popen([sys.executable, "-m", "coursekit.cli", "--course", str(course.root),
                             "autograde", "kit1", "--jobs", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def done() -> list[str]:
        return [s for s in students if (course.folder("autograded", "kit1", s) / "results.json").exists()]

    deadline = time.monotonic() + 120
    while len(done()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = done()
    assert 2 <= len(finished) < len(students), "the run was not killed half-way"
    summary = autograde(KIT1, course, jobs=2, progress=False)
    assert set(summary.skipped) == set(finished)
    assert set(summary.graded) == set(students) - set(finished)
    totals = auto_totals(item_scores(course.db_url, KIT1))
    assert totals == {s: 19 if i % 2 == 0 else 0 for i, s in enumerate(students)}


def test_cli_errors_are_one_line(tmp_path):
    unreleased = write_course(tmp_path / "unreleased").root  # the kit course's sources, nothing released

    def course(*args: str) -> subprocess.CompletedProcess:
        # From inside the course, as an instructor runs it (the course is the working directory).
        return subprocess.run([sys.executable, "-m", "coursekit.cli", *args], capture_output=True, text=True,
                              cwd=unreleased)

    empty = tmp_path / "nothing"
    empty.mkdir()
    for args, words in [
        (("--course", str(empty), "autograde", "kit1"), "no declaration for assignment 'kit1'; `course new kit1`"),
        (("autograde", "kit1", "--course", str(unreleased)), "run `course release kit1` first"),
        (("--course", str(tmp_path / "missing"), "scores", "kit1"), "no such course directory"),
        (("scores", "kit1", "--course", str(unreleased)), "no gradebook at"),
        (("validate", "hw9"), "no declaration for assignment 'hw9'; this course has kit1"),
    ]:
        proc = course(*args)
        assert proc.returncode == 1, args
        assert proc.stderr.strip().count("\n") == 0 and words in proc.stderr, (args, proc.stderr)


def test_grading_refuses_to_run_unsandboxed_unless_asked(graded, monkeypatch):
    from coursekit.autograde.grader import Grader, GraderConfig

    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        Grader(KIT1, graded)
    result = Grader(KIT1, graded, GraderConfig(require_sandbox=False)).grade("buggy")
    assert result.score == AUTO["buggy"] and not result.sandboxed
