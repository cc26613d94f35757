import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The reference library is not installed (a grading kernel must never find it);
# the tests import it from the repo.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from coursekit.assignment import load_assignment  # noqa: E402

HW1 = load_assignment(REPO, "hw1")  # the course's first assignment, as its declaration states it


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def released_course(tmp_path_factory, repo):
    """A course root (not the repo) with hw1 released into it and a fresh gradebook.

    Tests copy it (see `course_copy`) so that each grades into its own gradebook."""
    from coursekit.course import Course
    from coursekit.release.release import release

    root = tmp_path_factory.mktemp("course")
    course = Course.copy_of(repo, root)
    release(HW1, course, force=True)
    return course


def copy_course(course, root):
    """A private copy of a course, with its own gradebook."""
    import shutil

    from coursekit.course import Course

    shutil.copytree(course.root, root, symlinks=True)
    return Course(root)


@pytest.fixture
def course_copy(released_course, tmp_path):
    return copy_course(released_course, tmp_path / "course")


def fake_nbgrader(assignment, course) -> None:
    """What generate_assignment does to the files that matter here: copy, drop hidden tests,
    blank answer cells (tests of the release that need no real nbgrader)."""
    import shutil

    import nbformat

    from coursekit.release import release as rel

    src, dest = rel.source_dir(assignment, course), rel.release_dir(assignment, course)
    shutil.copytree(src, dest)
    for name in assignment.notebooks:
        path = dest / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            lines = cell.source.split("\n")
            if "### BEGIN HIDDEN TESTS" in lines:
                cell.source = "\n".join(lines[: lines.index("### BEGIN HIDDEN TESTS")])
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "markdown":
                cell.source = "YOUR ANSWER HERE"
        nbformat.write(nb, path)
