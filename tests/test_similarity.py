"""`course similarity`: a planted copy is found, honest work and the release are not.

The references are independent of the tool: which pair is a copy is known by
construction.  ``tests/data/similarity/`` holds three honest solutions of the
hw1 library, written independently and differently (loops vs. vectorised,
helpers, einsum, other names and order), and ``copier``: the reference
solution with renamed variables, reordered methods and classes, and
rewritten or removed comments and docstrings.

The course here is built by hand (the declaration, and a release of stubs
made by the release's own ``student_stub``, with the source notebooks as its
notebooks): nbgrader is not needed to compare code, and takes seconds.
"""
import csv
import os
import re
import shutil
from pathlib import Path

import pytest

import coursekit
from coursekit import similarity
from coursekit.cli import main
from coursekit.course import Course
from coursekit.library.view import reference_file, student_stub
from coursekit.samples import copy_release

from conftest import HW1, REPO

DATA = REPO / "tests" / "data" / "similarity"
HONEST = ("reference", "alice", "bob", "carol")  # independent solutions
PLANTED = {"copier", "reference"}  # copier's hand-in is the reference, disguised


def test_the_kit_under_test_is_this_worktree():
    assert Path(coursekit.__file__).resolve().is_relative_to(REPO)


def build_course(root: Path, students=("reference", "blank", "alice", "bob", "carol", "copier"),
                 solutions: dict[str, str] | None = None) -> Course:
    """A course with hw1 declared and released (stubs and the notebooks) and the students' hand-ins
    (``solutions``: student -> whose solution they hand in; by default their own)."""
    (root / "source" / HW1.name).mkdir(parents=True)
    shutil.copy(HW1.source, root / "source" / HW1.name / "assignment.toml")
    course = Course(root)
    release = course.folder("release", HW1.name)
    for rel in HW1.student_files:
        (release / rel).parent.mkdir(parents=True, exist_ok=True)
        (release / rel).write_text(student_stub(HW1, rel, (REPO / rel).read_text()))
    for notebook in HW1.notebooks:
        shutil.copy(REPO / "source" / HW1.name / f"{notebook}.ipynb", release / f"{notebook}.ipynb")
    for student in students:
        dest = copy_release(release, course.folder("submitted", HW1.name, student))
        solution = (solutions or {}).get(student, student)
        for rel in HW1.student_files:
            if solution == "reference":
                (dest / rel).write_text(reference_file(HW1, REPO, rel))
            elif solution != "blank":  # blank: the release unchanged
                shutil.copy(DATA / solution / rel, dest / rel)
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    return build_course(tmp_path_factory.mktemp("similarity"))


@pytest.fixture(scope="module")
def result(course) -> similarity.Result:
    return similarity.compare(course.assignment(HW1.name), course)


def rows(course) -> list[dict]:
    with open(course.root / "similarity" / HW1.name / "pairs.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_planted_copy_ranks_first_and_above_the_threshold(course, result):
    table = rows(course)
    assert len(table) == 6 * 5 // 2  # every pair once, nobody with themselves
    assert all(r["student_a"] != r["student_b"] for r in table)
    assert {frozenset((r["student_a"], r["student_b"])) for r in table}.__len__() == len(table)
    top = table[0]
    assert {top["student_a"], top["student_b"]} == PLANTED
    assert float(top["similarity"]) > similarity.THRESHOLD and top["above_threshold"] == "yes"
    values = [float(r["similarity"]) for r in table]
    assert values == sorted(values, reverse=True)
    assert float(top["similarity"]) == pytest.approx(max(float(top["share_a"]), float(top["share_b"])), abs=1e-4)


def test_honest_independent_solutions_stay_below_the_threshold(result):
    honest = [p for p in result.pairs if {p.student_a, p.student_b} <= set(HONEST)]
    assert len(honest) == 6
    assert max(p.similarity for p in honest) < similarity.THRESHOLD
    # Everything but the planted pair stays below: no other student copied.
    others = [p for p in result.pairs if {p.student_a, p.student_b} != PLANTED]
    assert all(p.similarity < similarity.THRESHOLD for p in others)
    assert result.flagged == [p for p in result.pairs if {p.student_a, p.student_b} == PLANTED]


def test_the_blank_release_matches_nobody(result):
    # Everything the blank hand-in holds was released: boilerplate, so nothing of it counts.
    blank = [p for p in result.pairs if "blank" in (p.student_a, p.student_b)]
    assert len(blank) == 5
    assert all(p.similarity == 0 and p.tokens == 0 for p in blank)


def test_the_cli_prints_the_top_pair_and_writes_the_highlighted_report(course, capsys):
    assert main(["similarity", HW1.name, "--course", str(course.root), "--top", "2"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.strip()]
    assert table[0].split()[:3] == ["student_a", "student_b", "similarity"]
    assert set(table[1].split()[:2]) == PLANTED and "above threshold" in table[1]
    assert "1 above the threshold" in out
    html = (course.root / "similarity" / HW1.name / "report.html").read_text(encoding="utf-8")
    # The planted pair's matching code, highlighted on both sides: the copier's renamed line
    # and the reference's original.
    highlighted = "".join(re.findall(r"<span class='highlight-(?:red|green)'>(.*?)</span>", html, re.S))
    assert "lyr.W -= self.rate * lyr.dLdW" in highlighted
    assert "layer.W -= self.lr * layer.dLdW" in highlighted
    assert "copier.py" in html and "reference.py" in html
    # Readable offline: no CDN, the layout and the buttons that open a pair inline.
    assert "cdn.jsdelivr" not in html and ".collapse:not(.show){display:none}" in html
    assert 'classList.toggle("show")' in html


def test_a_student_id_that_looks_like_a_formula_is_text_in_the_csv():
    pair = similarity.Pair("=HYPERLINK(1)", "+1", 0.9, 0.9, 10)
    rows = similarity.pairs_csv([pair], similarity.THRESHOLD).splitlines()
    assert rows[1].startswith("'=HYPERLINK(1),'+1,")


def test_the_cli_refuses_a_course_without_release_or_submissions(tmp_path, capsys):
    (tmp_path / "source" / HW1.name).mkdir(parents=True)
    shutil.copy(HW1.source, tmp_path / "source" / HW1.name / "assignment.toml")
    assert main(["similarity", HW1.name, "--course", str(tmp_path)]) == 1
    assert "no release" in capsys.readouterr().err
    (tmp_path / "release" / HW1.name).mkdir(parents=True)
    assert main(["similarity", HW1.name, "--course", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no submissions" in err and len(err.strip().splitlines()) == 1


def snapshot(root: Path) -> dict[str, tuple]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def test_hostile_hand_ins_are_skipped_file_by_file(tmp_path):
    course = build_course(tmp_path / "course", students=("reference", "alice", "copier", "mallory", "<script>eve"),
                          solutions={"mallory": "carol", "<script>eve": "bob"})
    folder = course.folder("submitted", HW1.name, "mallory")
    outside = tmp_path / "outside.py"  # a link would lead here: the reference solution of a file
    outside.write_text(reference_file(HW1, REPO, HW1.student_files[0]))
    rels = list(HW1.student_files)
    (folder / rels[0]).unlink()
    (folder / rels[0]).symlink_to(outside)
    (folder / rels[1]).unlink()
    os.mkfifo(folder / rels[1])
    (folder / rels[2]).write_bytes(b"import numpy as np\n\xff\xfe not utf-8\n")
    with open(folder / rels[3], "wb") as f:  # sparse: costs no disk
        f.truncate(similarity.MAX_LIBRARY_FILE + 1)
    notebook = f"{HW1.notebooks[0]}.ipynb"
    (folder / notebook).write_text("{ this is not json")
    before = snapshot(tmp_path)

    result = similarity.compare(course.assignment(HW1.name), course)

    out = course.root / "similarity" / HW1.name
    assert (out / "report.html").is_file() and (out / "pairs.csv").is_file()
    mine = [p for p in result.problems if p.startswith("mallory: ")]
    for rel in rels[:4]:
        assert sum(rel in p for p in mine) == 1, (rel, mine)
    assert any(rels[0] in p and "link" in p for p in mine)
    assert any(rels[1] in p and "FIFO" in p for p in mine)
    assert any(rels[2] in p and "UTF-8" in p for p in mine)
    assert any(rels[3] in p and "larger than" in p for p in mine)
    assert any(notebook in p and "not a valid notebook" in p for p in mine)
    assert len(mine) == 5 and all("\n" not in p for p in mine)
    # The last file was read as usual; the linked reference was not followed.
    mallory = {frozenset((p.student_a, p.student_b)): p for p in result.pairs}
    assert mallory[frozenset(("mallory", "reference"))].similarity < similarity.THRESHOLD
    assert len(result.pairs) == 10
    # Nothing but similarity/<A>/ was written; the hand-ins and the link's target are as they were.
    after = snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # ("course" itself: its mtime, as similarity/ was made in it.)
    assert changed and all(k == "course" or Path(k).parts[:2] == ("course", "similarity") for k in changed), changed
    # An odd student name reaches the report only as a plain file name.
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>eve" not in html
    assert "<script>eve," in (out / "pairs.csv").read_text(encoding="utf-8")  # CSV is data, not markup


@pytest.mark.skipif(os.environ.get("COURSEKIT_SCREENSHOTS") != "1",
                    reason="writes docs/similarity_report.png; only with COURSEKIT_SCREENSHOTS=1")
def test_screenshot_of_the_report(course):
    from playwright.sync_api import sync_playwright

    similarity.compare(course.assignment(HW1.name), course)
    report = course.root / "similarity" / HW1.name / "report.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())  # offline: the report's CDN stylesheet is not fetched
        page.goto(report.as_uri())
        page.locator("[data-bs-target=\"#collapse-1\"]").click()  # open the most similar pair, as a TA would
        page.get_by_role("heading", name="Matched Code").evaluate("h => window.scrollTo(0, h.offsetTop)")
        page.screenshot(path=str(REPO / "docs" / "similarity_report.png"))
        browser.close()
