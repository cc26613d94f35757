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

from conftest import HW1, copy_course

if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)


@pytest.fixture(scope="module")
def graded(released_course, tmp_path_factory):
    course = copy_course(released_course, tmp_path_factory.mktemp("grader") / "course")
    make_samples(HW1, course)
    summary = autograde(HW1, course, jobs=2, progress=False)
    assert sorted(summary.graded) == ["blank", "buggy", "reference"]
    return course


def test_results_json_is_gradescope_shaped(graded):
    data = json.loads((graded.folder("autograded", "hw1", "buggy") / "results.json").read_text())
    assert data["score"] == 30
    assert [t["name"] for t in data["tests"]] == [i.grade_id for i in HW1.items]
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output"}
        assert test["max_score"] == HW1.item(test["name"]).points
    tanh = next(t for t in data["tests"] if t["name"] == "tanh")
    assert tanh["score"] == 0 and "dAdH: values differ" in tanh["output"]
    # What the visible check printed, MyTorch next to PyTorch, is there for the student.
    assert "MyTorch:" in tanh["output"] and "PyTorch:" in tanh["output"]


def test_feedback_and_results_never_show_hidden_tests(graded):
    cases = read_cases(HW1, graded.folder("source", "hw1"))
    hidden_calls = []
    for item_cases in cases.values():
        for case in item_cases[1:]:
            hidden_calls.append(f"seed={case['seed']}")
    assert hidden_calls
    for student in ("reference", "blank", "buggy"):
        texts = [(graded.folder("feedback", "hw1", student) / "feedback.html").read_text(),
                 (graded.folder("autograded", "hw1", student) / "results.json").read_text()]
        for text in texts:
            assert "BEGIN HIDDEN TESTS" not in text
            assert not [c for c in hidden_calls if c in text]
            assert "### BEGIN SOLUTION" not in text and "def forward" not in text


def test_gradebook_matches_nbgrader_export_and_course_export(graded, tmp_path):
    import csv

    scores = item_scores(graded.db_url, HW1)
    assert {s: sum(v.values()) for s, v in scores.items()} == {"reference": 35, "blank": 0, "buggy": 30}
    out = tmp_path / "export.csv"
    graded.nbgrader("export", f"--to={out}")
    rows = list(csv.DictReader(out.open()))
    assert {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == "hw1"} == \
        {"reference": 35.0, "blank": 0.0, "buggy": 30.0}
    from coursekit.cli import main

    assert main(["--course", str(graded.root), "export", "hw1", "-o", str(tmp_path / "c.csv")]) == 0
    ours = {r["student"]: r for r in csv.DictReader((tmp_path / "c.csv").open())}
    assert {s: float(r["total"]) for s, r in ours.items()} == {"reference": 35.0, "blank": 0.0, "buggy": 30.0}
    assert ours["buggy"]["tanh"] == "0" and ours["buggy"]["relu"] == "2" and ours["buggy"]["max"] == "35"


def test_rerunning_is_idempotent_and_skips_unchanged(graded):
    before = (graded.folder("autograded", "hw1", "buggy") / "results.json").read_text()
    summary = autograde(HW1, graded, jobs=2, progress=False)
    assert sorted(summary.skipped) == ["blank", "buggy", "reference"] and summary.graded == []
    assert (graded.folder("autograded", "hw1", "buggy") / "results.json").read_text() == before
    assert {s: sum(v.values()) for s, v in item_scores(graded.db_url, HW1).items()} == \
        {"reference": 35, "blank": 0, "buggy": 30}


def test_a_changed_submission_is_regraded(graded):
    folder = graded.folder("submitted", "hw1", "blank")
    hand_in_reference(HW1, graded.repo, folder)
    try:
        summary = autograde(HW1, graded, jobs=1, progress=False)
        assert summary.graded == ["blank"]
        assert sum(item_scores(graded.db_url, HW1)["blank"].values()) == 35
    finally:
        copy_release(graded.folder("release", "hw1"), folder)
        autograde(HW1, graded, jobs=1, progress=False)


def test_a_run_killed_half_way_resumes(released_course, tmp_path):
    course = copy_course(released_course, tmp_path / "course")
    release = course.folder("release", "hw1")
    students = [f"s{i:02d}" for i in range(8)]
    for i, student in enumerate(students):
        dest = copy_release(release, course.folder("submitted", "hw1", student))
        if i % 2 == 0:
            hand_in_reference(HW1, course.repo, dest)
    proc = subprocess.Popen([sys.executable, "-m", "coursekit.cli", "--course", str(course.root),
                             "autograde", "hw1", "--jobs", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def done() -> list[str]:
        return [s for s in students if (course.folder("autograded", "hw1", s) / "results.json").exists()]

    deadline = time.monotonic() + 120
    while len(done()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = done()
    assert 2 <= len(finished) < len(students), "the run was not killed half-way"
    summary = autograde(HW1, course, jobs=2, progress=False)
    assert set(summary.skipped) == set(finished)
    assert set(summary.graded) == set(students) - set(finished)
    totals = {s: sum(v.values()) for s, v in item_scores(course.db_url, HW1).items()}
    assert totals == {s: 35 if i % 2 == 0 else 0 for i, s in enumerate(students)}


def test_cli_errors_are_one_line(released_course, repo, tmp_path):
    from coursekit.course import Course

    def course(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "coursekit.cli", *args], capture_output=True, text=True,
                              cwd=repo)

    empty = tmp_path / "nothing"
    empty.mkdir()
    unreleased = Course.copy_of(repo, tmp_path / "unreleased").root
    for args, words in [
        (("--course", str(empty), "autograde", "hw1"), "no declaration for assignment 'hw1'; `course new hw1`"),
        (("autograde", "hw1", "--course", str(unreleased)), "run `course release hw1` first"),
        (("--course", str(tmp_path / "missing"), "scores", "hw1"), "no such course directory"),
        (("scores", "hw1", "--course", str(unreleased)), "no gradebook at"),
        (("validate", "hw9"), "no declaration for assignment 'hw9'; this course has hw1"),
    ]:
        proc = course(*args)
        assert proc.returncode == 1, args
        assert proc.stderr.strip().count("\n") == 0 and words in proc.stderr, (args, proc.stderr)


def test_grading_refuses_to_run_unsandboxed_unless_asked(graded, monkeypatch):
    from coursekit.autograde.grader import Grader, GraderConfig

    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        Grader(HW1, graded)
    result = Grader(HW1, graded, GraderConfig(require_sandbox=False)).grade("buggy")
    assert result.score == 30 and not result.sandboxed
