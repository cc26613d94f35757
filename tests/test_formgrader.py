"""nbgrader's formgrader over a course graded by `course autograde`: a real Jupyter server on a
private port, driven over HTTP (its API, as its buttons call it) and, in the slow test, with
Playwright and Debian's chromium (a grader scores a written hw2 answer by hand)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_written import NAME, feedback, grade_by_hand, gradebook_grade, results, test_of, write_course

from conftest import REPO

TOKEN = "coursekit-formgrader-test"
STAMP = "2026-01-10 12:00:00.000000 UTC"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_server(root: Path, tmp: Path):
    """A Jupyter server with nbgrader's formgrader over the course at root (its nbgrader_config.py),
    this worktree's kit first on the path; yields its base URL."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"))
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
                               "--ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={TOKEN}",
                               f"--ServerApp.root_dir={root}"],
                              cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                call(url, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None:
                    raise RuntimeError((tmp / "server.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def call(url: str, path: str, method: str = "GET", body: dict | None = None, raw: bool = False):
    data = json.dumps(body).encode() if body is not None else (b"" if method != "GET" else None)
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        text = response.read().decode()
    return text if raw else json.loads(text)


# --- over HTTP: the small course of test_written ------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from coursekit.autograde.run import autograde
    from coursekit.release import release
    from coursekit.samples import copy_release, hand_in_reference

    tmp = tmp_path_factory.mktemp("formgrader")
    course = write_course(tmp / "course")
    assignment = course.assignment(NAME)
    release(assignment, course, force=True)
    for student in ("ada", "bob"):
        folder = copy_release(course.folder("release", NAME), course.folder("submitted", NAME, student))
        (folder / "timestamp.txt").write_text(STAMP)  # as `course collect` writes it
    hand_in_reference(assignment, course.repo, course.folder("submitted", NAME, "ada"))
    summary = autograde(assignment, course, jobs=1, progress=False)
    assert sorted(summary.graded) == ["ada", "bob"], summary.failed
    grade_by_hand(course, "ada", 1.5, "Good, but say why it is constant.")
    with jupyter_server(course.root, tmp) as url:
        yield course, url


def test_every_kit_graded_submission_is_listed_as_graded_with_a_name(served):
    course, url = served
    submissions = {s["student"]: s for s in call(url, f"/formgrader/api/submissions/{NAME}")}
    assert set(submissions) == {"ada", "bob"}
    for student, submission in submissions.items():
        assert submission["autograded"], student  # not "needs autograding"
        assert submission["last_name"] == student and submission["first_name"] == ""  # not "None, None"
        assert submission["timestamp"].startswith("2026-01-10T12:00:00")
        assert (course.folder("autograded", NAME, student) / "timestamp.txt").read_text() == STAMP
    assert submissions["ada"]["score"] == 3 + 1.5


def test_the_submission_page_loads_mathjax_from_the_server(served):
    course, url = served
    notebook = call(url, f"/formgrader/api/submitted_notebooks/{NAME}/Nb")
    ada = next(n for n in notebook if n["student"] == "ada")
    page = call(url, f"/formgrader/submissions/{ada['id']}/", raw=True)
    assert "cdnjs" not in page and "../../../static/jupyter_server_mathjax/MathJax.js" in page
    script = call(url, "/static/jupyter_server_mathjax/MathJax.js", raw=True)
    assert "MathJax" in script


def test_generate_feedback_renders_the_kit_s_page_with_the_grader_s_comment(served):
    course, url = served
    for path in (f"/formgrader/api/assignment/{NAME}/ada/generate_feedback",
                 f"/formgrader/api/assignment/{NAME}/generate_feedback"):
        (course.folder("feedback", NAME, "ada") / "feedback.html").unlink()
        answer = call(url, path, "POST")
        assert answer["success"], answer
        page = feedback(course, "ada")
        assert "Good, but say why it is constant." in page and "1.5" in page
    assert test_of(results(course, "ada"), "why")["score"] == 1.5


def test_generate_feedback_refuses_a_submission_the_kit_has_not_graded(served):
    course, url = served
    from coursekit.samples import copy_release

    copy_release(course.folder("release", NAME), course.folder("submitted", NAME, "zed"))
    try:
        answer = call(url, f"/formgrader/api/assignment/{NAME}/zed/generate_feedback", "POST")
        assert not answer["success"] and "course autograde" in answer["error"]
        assert not course.folder("feedback", NAME, "zed").exists()
    finally:
        import shutil

        shutil.rmtree(course.root / "submitted" / "zed")


def test_the_autograde_button_runs_the_kit_and_keeps_the_grader_s_score(served):
    course, url = served
    before = results(course, "ada")
    answer = call(url, f"/formgrader/api/submission/{NAME}/ada/autograde", "POST")
    assert answer["success"], answer
    assert "course autograde" in answer["log"]
    after = results(course, "ada")
    assert after["score"] == before["score"] == 4.5  # the kit's results.json, the grader's 1.5 kept
    assert gradebook_grade(course, "ada")[1] == 1.5
    assert "Good, but say why it is constant." in feedback(course, "ada")
    submissions = {s["student"]: s for s in call(url, f"/formgrader/api/submissions/{NAME}")}
    assert submissions["ada"]["autograded"]


def test_the_generate_button_releases_with_the_kit(served):
    course, url = served
    answer = call(url, f"/formgrader/api/assignment/{NAME}/assign", "POST")
    assert answer["success"], answer
    assert "course release" in answer["log"]
    assert (course.folder("release", NAME) / "Nb.ipynb").is_file()


# --- in a real browser: a grader scores a written hw2 answer -----------------------------

HW2 = "hw2"


@pytest.mark.slow
def test_a_grader_scores_a_written_answer_in_the_browser(tmp_path, capsys):
    """Open the reference's hw2 submission in the formgrader, score a written answer and comment;
    scores, export, results.json and the feedback page show both, a forced regrade keeps them."""
    playwright = pytest.importorskip("playwright.sync_api")
    import csv

    from nbgrader.api import Gradebook

    from coursekit.autograde.run import autograde
    from coursekit.cli import main
    from coursekit.course import Course
    from coursekit.release import release
    from coursekit.samples import make_samples

    course = Course.copy_of(REPO, tmp_path / "course")
    assignment = course.assignment(HW2)
    written = assignment.manual_items[0]  # the first written answer of the course's hw2
    release(assignment, course, force=True)
    folders = make_samples(assignment, course)
    for folder in folders.values():
        (folder / "timestamp.txt").write_text(STAMP)
    summary = autograde(assignment, course, jobs=2, progress=False)
    assert sorted(summary.graded) == ["blank", "buggy", "reference"], summary.failed
    auto = json.loads((course.folder("autograded", HW2, "reference") / "results.json").read_text())["score"]
    comment = "Right Jacobian; say where the diagonal comes from."
    # The pictures in docs/ are remade on request only: a test run never changes the repo.
    docs = REPO / "docs" if os.environ.get("COURSEKIT_SCREENSHOTS") else tmp_path

    with jupyter_server(course.root, tmp_path) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1280, "height": 900},  # the token on every request
                                   extra_http_headers={"Authorization": f"token {TOKEN}"}).new_page()
        page.goto(f"{url}/formgrader/manage_submissions/{HW2}")
        page.wait_for_selector("td:has-text('reference')")
        listing = page.inner_text("body")
        assert "None, None" not in listing and "needs autograding" not in listing.lower()
        page.screenshot(path=str(docs / "formgrader_submissions.png"))

        notebooks = call(url, f"/formgrader/api/submitted_notebooks/{HW2}/{written.notebook}")
        submission = next(n for n in notebooks if n["student"] == "reference")
        page.goto(f"{url}/formgrader/submissions/{submission['id']}/")
        score = page.locator(f"input.score#{written.grade_id}")
        score.wait_for()
        page.wait_for_function("window.MathJax && MathJax.Hub", timeout=30000)  # offline MathJax loaded
        page.wait_for_selector(".MathJax, .MathJax_Display", timeout=30000)  # and typeset the equations
        score.fill(str(written.points - 1))
        score.press("Tab")  # "change" saves the score
        box = page.locator(f"textarea#{written.grade_id}-comment")
        box.fill(comment)
        box.press("Tab")
        for _ in range(100):
            with Gradebook(course.db_url) as gb:
                grade = gb.find_grade(written.grade_id, written.notebook, HW2, "reference")
                said = gb.find_comment(written.grade_id, written.notebook, HW2, "reference").manual_comment
                if grade.manual_score is not None and said == comment:
                    break
            time.sleep(0.2)
        assert grade.manual_score == written.points - 1 and said == comment
        score.scroll_into_view_if_needed()
        page.screenshot(path=str(docs / "formgrader_manual_grade.png"))

        # Generate Feedback (the kit's page, with the grader's score and comment)
        answer = call(url, f"/formgrader/api/assignment/{HW2}/reference/generate_feedback", "POST")
        assert answer["success"], answer
        page_path = course.folder("feedback", HW2, "reference") / "feedback.html"
        page.goto(page_path.as_uri())
        page.get_by_text(comment).scroll_into_view_if_needed()
        page.screenshot(path=str(docs / "feedback_manual_grade.png"))
        browser.close()

        def check_everywhere() -> None:
            combined = auto + written.points - 1
            capsys.readouterr()
            assert main(["--course", str(course.root), "scores", HW2]) == 0
            row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("reference"))
            assert f"{combined:g}+?" in row  # the other written answers still await a grader
            out = tmp_path / "grades.csv"
            assert main(["--course", str(course.root), "export", HW2, "-o", str(out)]) == 0
            exported = next(r for r in csv.DictReader(out.open()) if r["student"] == "reference")
            assert float(exported[written.grade_id]) == written.points - 1
            assert float(exported["graded"]) == combined
            data = json.loads((course.folder("autograded", HW2, "reference") / "results.json").read_text())
            assert data["score"] == combined
            test = next(t for t in data["tests"] if written.grade_id in t["name"])
            assert test["score"] == written.points - 1 and comment in test["output"]
            assert comment in page_path.read_text()

        check_everywhere()
        assert main(["--course", str(course.root), "autograde", HW2, "--force", "--student", "reference"]) == 0
        check_everywhere()
        with Gradebook(course.db_url) as gb:
            assert gb.find_grade(written.grade_id, written.notebook, HW2, "reference").manual_score \
                == written.points - 1
