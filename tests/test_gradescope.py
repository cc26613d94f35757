"""`course gradescope`: the autograder.zip's run_autograder over a folder laid out as /autograder.

The kit course (tests/kitcourse.py, which has a written item) is built into a zip, unzipped as Gradescope does
into ``<root>/source``, and run (bash run_autograder, with COURSEKIT_GRADESCOPE_ROOT) for the
reference (uploaded as the hand-in zip), the blank release and the buggy sample (uploaded as
files).  Scores must equal `course autograde`'s on the same submissions; time and peak memory
must fit Gradescope's default 10 minutes and 768 MB.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.cases import read_cases
from coursekit.autograde.run import autograde
from coursekit.gradescope import HAND_GRADED, build
from coursekit.samples import make_samples

from conftest import copy_course
from kitcourse import BUGGY_LOST, KIT1

if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

A = KIT1  # written (hand-graded) item: "why"
assert A.manual_items
STUDENTS = ("reference", "blank", "buggy")
GRADESCOPE_MB, GRADESCOPE_SECONDS = 768, 600
TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def run_autograder(source: Path, root: Path, python: str = sys.executable, env: dict | None = None,
                   script: Path | None = None) -> dict:
    """Run the zip's run_autograder over ``root``; results.json plus the run's seconds and peak MB."""
    stats = root / "time.txt"
    cmd = ["bash", str(script or source / "run_autograder")]
    if TIME:
        cmd = [TIME, "-f", "%e %M", "-o", str(stats)] + cmd
    environ = {**os.environ, "COURSEKIT_GRADESCOPE_ROOT": str(root), "COURSEKIT_GRADESCOPE_PYTHON": python,
               **(env or {})}
    start = time.monotonic()
    proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=GRADESCOPE_SECONDS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    seconds, peak = time.monotonic() - start, None
    if TIME and stats.is_file():
        seconds, kb = stats.read_text().split()[-2:]
        seconds, peak = float(seconds), int(kb) / 1024
    data["_run"] = {"seconds": seconds, "peak_mb": peak, "log": proc.stdout + proc.stderr}
    return data


def unzip(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest


def zip_folder(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return out


@pytest.fixture(scope="module")
def course(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("gradescope") / "course")
    make_samples(A, course)
    return course


@pytest.fixture(scope="module")
def source(course, tmp_path_factory):
    zip_path = build(A, course, tmp_path_factory.mktemp("zip") / "autograder.zip")
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        modes = {n: zf.getinfo(n).external_attr >> 16 for n in ("setup.sh", "run_autograder")}
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json"} <= names
    assert all(mode & 0o111 for mode in modes.values())
    assert not [n for n in names if "__pycache__" in n or n.startswith("course/submitted/")]
    return unzip(zip_path, tmp_path_factory.mktemp("autograder") / "source")


@pytest.fixture(scope="module")
def gradescope(course, source, tmp_path_factory):
    out = {}
    for student in STUDENTS:
        root = tmp_path_factory.mktemp(f"autograder-{student}")
        upload = root / "submission"
        upload.mkdir()
        folder = course.folder("submitted", A.name, student)
        if student == "reference":  # the hand-in zip as handin.py names it, files in one folder
            zip_folder(folder, upload / f"{A.name}_handin.zip", prefix=f"{A.name}/")
        else:  # the hand-in's content
            shutil.copytree(folder, upload, dirs_exist_ok=True)
        out[student] = run_autograder(source, root)
    return out


@pytest.fixture(scope="module")
def autograded(course):
    summary = autograde(A, course, jobs=2, progress=False)
    assert sorted(summary.graded) == sorted(STUDENTS)
    return {s: json.loads((course.folder("autograded", A.name, s) / "results.json").read_text()) for s in STUDENTS}


def test_same_scores_as_course_autograde(gradescope, autograded):
    for student in STUDENTS:
        ours, theirs = gradescope[student], autograded[student]
        assert ours["score"] == theirs["score"], student
        assert [t["name"] for t in ours["tests"]] == [i.grade_id for i in A.items]
        auto = {t["name"]: t for t in theirs["tests"]}
        for test in ours["tests"]:
            if not A.item(test["name"]).manual:
                # Which case decided, not its numbers: those may come from a random draw (a dropout mask).
                other = auto[test["name"]]
                assert (test["score"], test["status"], test["output"].split(":")[0]) == \
                    (other["score"], other["status"], other["output"].split(":")[0]), (student, test["name"])
    assert gradescope["reference"]["score"] == A.auto_points
    assert gradescope["blank"]["score"] == 0
    # The buggy sample's planted bugs (kitcourse.SAMPLES), each item's points: 19 - 5.
    assert gradescope["buggy"]["score"] == A.auto_points - sum(BUGGY_LOST.values()) == 14


def test_results_json_is_gradescope_shaped(gradescope):
    for student, data in gradescope.items():
        assert {"score", "output", "tests", "visibility", "stdout_visibility"} <= set(data)
        assert data["stdout_visibility"] == "hidden"
        for test in data["tests"]:
            assert {"name", "score", "max_score", "output", "visibility"} <= set(test), (student, test)
            assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
            assert test["max_score"] == A.item(test["name"]).points


def test_written_items_are_listed_at_zero_and_graded_by_hand(gradescope):
    written = {i.grade_id for i in A.manual_items}
    for data in gradescope.values():
        tests = [t for t in data["tests"] if t["name"] in written]
        assert len(tests) == len(written)
        assert all(t["score"] == 0 and HAND_GRADED in t["output"] for t in tests)
    # The reference's written answers are there, waiting for a grader; the blank's are not.
    assert all("awaiting manual grading" in t["output"] for t in gradescope["reference"]["tests"]
               if t["name"] in written)


def test_hidden_cases_are_never_shown(gradescope, source):
    cases = read_cases(A, source / "course" / "source" / A.name)
    hidden = [f"seed={case['seed']}" for item_cases in cases.values() for case in item_cases[1:]
              if "seed" in case]
    for data in gradescope.values():
        text = json.dumps({k: v for k, v in data.items() if k != "_run"})
        assert "BEGIN HIDDEN TESTS" not in text and "### BEGIN SOLUTION" not in text
        assert not [c for c in hidden if c in text]


def test_fits_gradescope_default_container(gradescope):
    for student, data in gradescope.items():
        run = data["_run"]
        print(f"{student}: score {data['score']}, {run['seconds']:.1f} s, peak {run['peak_mb']} MB")
        assert run["seconds"] < GRADESCOPE_SECONDS
        if run["peak_mb"] is not None:
            assert run["peak_mb"] < GRADESCOPE_MB
        assert data["extra_data"]["sandboxed"] is True


def test_an_unsafe_upload_is_refused_with_a_results_json(source, tmp_path):
    (tmp_path / "submission").mkdir()
    with zipfile.ZipFile(tmp_path / "submission" / "upload.zip", "w") as zf:
        zf.writestr("../evil.py", "x = 1")
    # As Gradescope runs it: a copy at <root>/run_autograder, the unzipped autograder in <root>/source.
    shutil.copy(source / "run_autograder", tmp_path / "run_autograder")
    (tmp_path / "source").symlink_to(source)
    data = run_autograder(source, tmp_path, script=tmp_path / "run_autograder")
    assert data["score"] == 0 and "could not be graded" in data["output"] and ".." in data["output"]
    assert [t["name"] for t in data["tests"]] == [i.grade_id for i in A.items]


def test_a_grader_failure_writes_a_results_json_that_says_so(source, tmp_path):
    broken = tmp_path / "source"
    shutil.copytree(source, broken)
    (broken / "course" / "source" / A.name / "checks.py").unlink()
    shutil.copytree(source / "course" / "release" / A.name, tmp_path / "root" / "submission")
    data = run_autograder(broken, tmp_path / "root")
    assert data["score"] == 0 and data["extra_data"]["grader_failed"] is True
    assert "autograder failed" in data["output"] and "not your score" in data["output"]
    # Python itself cannot start: run_autograder still writes one.
    shutil.rmtree(tmp_path / "root" / "results")
    data = run_autograder(broken, tmp_path / "root", python=str(tmp_path / "no-python"))
    assert data["score"] == 0 and data["extra_data"]["grader_failed"] is True


def test_running_out_of_time_writes_a_results_json(source, course, tmp_path):
    from coursekit.gradescope import run

    shutil.copytree(course.folder("submitted", A.name, "reference"), tmp_path / "submission")
    data = run(tmp_path, source, deadline=0.5)
    assert data["score"] == 0 and "took longer than 0.5 seconds" in data["output"]
    assert json.loads((tmp_path / "results" / "results.json").read_text())["extra_data"]["grader_failed"] is True


def test_course_gradescope_writes_the_zip(course, tmp_path, capsys):
    from coursekit.cli import main

    out = tmp_path / "ag.zip"
    assert main(["gradescope", A.name, "--course", str(course.root), "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        config = json.loads(zf.read("gradescope.json"))
        names = zf.namelist()
        pins = zf.read("requirements.txt").decode()
    # The modules student code may import are installed for the grader too (the sandbox shows them).
    from coursekit.gradescope import grader_packages

    assert all(f"\n{p.lower()}==" in pins for p in grader_packages(A))
    assert config == {"assignment": A.name, "allow_unsandboxed": False}
    assert f"course/source/{A.name}/{Path(A.checks).name}" in names
    assert [n for n in names if n.startswith(f"course/release/{A.name}/")]
    assert main(["gradescope", "no-such-assignment", "--course", str(course.root)]) == 1


@pytest.mark.slow
def test_setup_sh_installs_a_venv_that_grades(source, course, tmp_path):
    """setup.sh for real (its pip part; apt-get skipped) into a throwaway venv, which then grades."""
    venv = tmp_path / "venv"
    env = {**os.environ, "COURSEKIT_SKIP_APT": "1", "COURSEKIT_GRADESCOPE_VENV": str(venv),
           "COURSEKIT_GRADESCOPE_BASE_PYTHON": getattr(sys, "_base_executable", sys.executable)}
    proc = subprocess.run(["bash", str(source / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    root = tmp_path / "root"
    shutil.copytree(course.folder("submitted", A.name, "reference"), root / "submission")
    data = run_autograder(source, root, python=str(venv / "bin" / "python"))
    assert data["score"] == A.auto_points, data["output"]
    assert data["extra_data"]["sandboxed"] is True
