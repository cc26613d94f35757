""""Unchanged" means unchanged (issue 17, class 5).

``course autograde`` skips a hand-in whose results.json carries the same
fingerprint.  The fingerprint must cover every byte the grader uses — of the
hand-in and of its own inputs — or the skip keeps a grade for code that
changed.  Each test grades, changes one thing the grader uses, and checks
that a rerun without ``--force`` grades again (with the new grade where the
change changes it), and that a rerun with nothing changed still skips.

The course is test_cell_items' tiny one: ``double`` (library file
``mylib/core.py``) and ``slope`` (the notebook solution cell ``slope_code``),
each with a visible and a hidden case.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_cell_items import CONFIG, HONEST_CORE, NAME, NB, cell_index, hand_in, write_course

from coursekit.autograde import sandbox
from coursekit.autograde.run import autograde
from coursekit.course import Course
from coursekit.gradebook import item_scores

pytestmark = pytest.mark.skipif(os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available(),
                                reason="bubblewrap is not usable here")
REPO = Path(__file__).resolve().parent.parent
STUDENT = "ada"
CORRECT_CELL = "import numpy as np\n\n\ndef slope(x):\n    return 3 * x ** 2\n"


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Course:
    from coursekit.release import release

    course = write_course(tmp_path_factory.mktemp("unchanged") / "course")
    release(course.assignment(NAME), course)
    return course


@pytest.fixture
def course(released, tmp_path) -> Course:
    """A private copy of the released course (its own gradebook, course files and hand-ins)."""
    shutil.copytree(released.root, tmp_path / "course", symlinks=True)
    return Course(tmp_path / "course")


def run(course: Course, config=CONFIG):
    assignment = course.assignment(NAME)
    summary = autograde(assignment, course, jobs=1, config=config, progress=False)
    assert not summary.failed, summary.failed
    return summary, item_scores(course.db_url, assignment).get(STUDENT, {})


def graded_then(course: Course, change, config_after=CONFIG, *, points_before: dict, points_after: dict,
                config_before=CONFIG) -> None:
    """Grade, check the points; ``change()``; a rerun grades again and gives ``points_after``;
    one more rerun skips."""
    summary, points = run(course, config_before)
    assert summary.graded == [STUDENT] and points == points_before
    summary, points = run(course, config_before)
    assert summary.skipped == [STUDENT] and summary.graded == []  # nothing changed: skipped
    change()
    summary, points = run(course, config_after)
    assert summary.graded == [STUDENT], "the change was not seen: the old grade was kept"
    assert points == points_after
    summary, _ = run(course, config_after)
    assert summary.skipped == [STUDENT] and summary.graded == []


def set_source_cell(course: Course, grade_id: str, source: str) -> None:
    path = course.folder("source", NAME) / f"{NB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[cell_index(nb, grade_id)].source = source
    nbformat.write(nb, path)


# -- the hand-in ------------------------------------------------------------------------------

def test_a_byte_changed_in_the_middle_of_a_large_notebook_keeping_size_and_mtime(course):
    """The notebook is large (megabytes of outputs around the solution cell), the folder holds
    big extra files that sort first; the solution cell's code changes in one byte, with the
    notebook's size and modification time kept (as a re-collected zip or an exchange copy keeps
    them).  Before: hashed by size, mtime and first and last MiB once 256 MB had been hashed."""
    padding = "x" * (3 << 20)

    def big(nb):
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(padding))
        nb.cells.append(nbformat.v4.new_markdown_cell(padding))

    hand_in(course, STUDENT, cell=CORRECT_CELL, core=HONEST_CORE, edit=big)
    folder = course.folder("submitted", NAME, STUDENT)
    for k in range(8):  # 256 MB of sparse filler (no disk space) sorted before the notebook
        with open(folder / f"0fill{k}.bin", "wb") as f:
            f.truncate(32 << 20)
    path = folder / f"{NB}.ipynb"

    def change():
        data = path.read_bytes()
        at = data.index(b"3 * x ** 2")
        assert (3 << 20) < at < len(data) - (3 << 20)  # far from either end
        st = path.stat()
        path.write_bytes(data[:at] + b"3 * x ** 3" + data[at + 10:])  # one byte, same size
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns

    graded_then(course, change, points_before={"double": 2, "slope": 3}, points_after={"double": 2, "slope": 0})


# -- the grader's inputs ----------------------------------------------------------------------

def test_the_fixture(course):
    hand_in(course, STUDENT, cell=CORRECT_CELL)
    fixture = course.source_file("data/hwc.npz")

    def change():  # the visible case's expected output of slope, wrong from now on
        arrays = dict(np.load(fixture))
        arrays["expected__slope__g"] = arrays["expected__slope__g"] + 1
        np.savez(fixture, **arrays)

    graded_then(course, change, points_before={"double": 2, "slope": 3}, points_after={"double": 2, "slope": 0})


def test_a_hidden_case_in_the_source_notebook(course):
    # Right only for inputs of fewer than six numbers: the hidden case (n=5) passes, then n=7 does not.
    hand_in(course, STUDENT,
            cell="import numpy as np\n\n\ndef slope(x):\n    return 3 * x ** 2 if len(x) < 6 else 0 * x\n")
    hidden = 'check("slope")\n### BEGIN HIDDEN TESTS\ncheck("slope", seed=1, n={n})\n### END HIDDEN TESTS'
    set_source_cell(course, "slope", hidden.format(n=5))
    graded_then(course, lambda: set_source_cell(course, "slope", hidden.format(n=7)),
                points_before={"double": 2, "slope": 3}, points_after={"double": 2, "slope": 0})


def test_the_reference_library_file_a_stub_is_made_from(course):
    """The student's core.py does not parse, so the grader runs the stub made from the course's
    reference file; the student's cell takes a constant from it."""
    reference = course.source_file("mylib/core.py")
    reference.write_text("POWER = 2\n" + reference.read_text())
    hand_in(course, STUDENT, core="def broken(:\n", cell="import numpy as np\nfrom mylib.core import POWER\n\n\n"
                                                       "def slope(x):\n    return 3 * x ** POWER\n")
    graded_then(course, lambda: reference.write_text(reference.read_text().replace("POWER = 2", "POWER = 3")),
                points_before={"double": 0, "slope": 3}, points_after={"double": 0, "slope": 0})


def test_the_graders_limits(course):
    """The run's own configuration (the limits Gradescope's zip or a caller sets), not the declaration."""
    hand_in(course, STUDENT, cell="import time\n\nimport numpy as np\n\n\n"
                                  "def slope(x):\n    time.sleep(1.5)\n    return 3 * x ** 2\n")
    roomy = replace(CONFIG, limits=replace(CONFIG.limits, wall_seconds=20, cpu_seconds=20))
    tight = replace(CONFIG, limits=replace(CONFIG.limits, wall_seconds=1, cpu_seconds=1))
    graded_then(course, lambda: None, tight, config_before=roomy,
                points_before={"double": 2, "slope": 3}, points_after={"double": 2, "slope": 0})


def test_a_kit_module_that_grading_imports(course, tmp_path):
    """Graded by `course autograde` with a copy of the kit; then a kit module grading imports
    beyond checks/ and autograde/ (ipynb.py: how the notebooks are read) changes."""
    kit = tmp_path / "kit"
    shutil.copytree(REPO / "coursekit", kit / "coursekit", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(kit)}
    hand_in(course, STUDENT, cell=CORRECT_CELL)

    def cli() -> str:
        proc = subprocess.run([sys.executable, "-m", "coursekit.cli", "--course", str(course.root), "autograde",
                               NAME, "--jobs", "1"], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)  # cwd: not the repo, whose own coursekit/ would come first
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    assert "graded 1, unchanged 0" in cli()
    with open(kit / "coursekit" / "ipynb.py", "a") as f:
        f.write("\n# a change to how notebooks are read\n")
    assert "graded 1, unchanged 0" in cli(), "the kit changed, but the old grade was kept"
    assert "graded 0, unchanged 1" in cli()
    results = json.loads((course.folder("autograded", NAME, STUDENT) / "results.json").read_text())
    assert results["score"] == 5
    assert str(kit) in subprocess.run([sys.executable, "-c", "import coursekit; print(coursekit.__file__)"], env=env,
                                      cwd=tmp_path, capture_output=True, text=True).stdout  # the copy graded


def test_the_kit_sources_are_every_kit_module_grading_imports():
    """The static import closure holds every kit module a grading process has loaded."""
    from coursekit.autograde import inputs

    code = ("import sys\nfrom coursekit.autograde import worker, grader\n"
            "print('\\n'.join(sorted(getattr(m, '__file__', None) or '' for n, m in list(sys.modules.items())"
            " if n.split('.')[0] == 'coursekit')))")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, check=True)
    loaded = {Path(p).resolve() for p in proc.stdout.split() if p}
    assert loaded and loaded <= set(inputs.kit_sources())
    names = {p.relative_to(inputs.KIT).as_posix() for p in inputs.kit_sources()}
    assert {"ipynb.py", "assignment.py", "library/stub.py", "autograde/child.py", "autograde/cases.py"} <= names


def test_the_cluster_workers_check_the_same_inputs(course):
    """A Dask worker compares grader_digest with the run's: the fixture, a hidden case and a
    reference file change it too (before, its own list and the fingerprint's differed)."""
    from coursekit.autograde.worker import grader_digest

    assignment = course.assignment(NAME)
    seen = {grader_digest(assignment, course)}
    fixture = course.source_file("data/hwc.npz")
    fixture.write_bytes(fixture.read_bytes() + b"\0")
    seen.add(grader_digest(assignment, course))
    set_source_cell(course, "slope", 'check("slope")\n### BEGIN HIDDEN TESTS\ncheck("slope", seed=2, n=5)\n'
                                     '### END HIDDEN TESTS')
    seen.add(grader_digest(assignment, course))
    (course.folder("release", NAME) / "extra.txt").write_text("a file added to the release")
    seen.add(grader_digest(assignment, course))
    assert len(seen) == 4


def test_a_notebook_rewritten_in_place_is_read_again(course):
    """The parse memo (one student's notebooks parsed once per look) never outlives a look: a
    notebook rewritten in place with its inode, size and mtime kept is read afresh next time (the
    Dask client and Gradescope read hand-ins in one long-lived process)."""
    from coursekit.autograde.grader import Grader

    hand_in(course, STUDENT, cell=CORRECT_CELL)
    grader = Grader(course.assignment(NAME), course, CONFIG)
    assert grader.read(STUDENT).submission.cells[(NB, "slope_code")] == CORRECT_CELL
    path = course.folder("submitted", NAME, STUDENT) / f"{NB}.ipynb"
    st = path.stat()
    with open(path, "r+b") as f:  # in place: same inode
        data = f.read()
        f.seek(data.index(b"3 * x ** 2"))
        f.write(b"3 * x ** 3")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "3 * x ** 3" in grader.read(STUDENT).submission.cells[(NB, "slope_code")]
