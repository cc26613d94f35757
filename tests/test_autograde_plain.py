"""Plain `nbgrader autograde` with the config `course new` writes grades the students' own library.

The kit course (tests/kitcourse.py) is graded, with the template nbgrader_config.py in place of
its minimal one.  Expected scores come from the spec's points table: a bug costs exactly the
items whose code it is in.
"""
import pytest

from coursekit.autograde.plain import autograde
from coursekit.gradebook import item_scores
from coursekit.samples import break_file, copy_release, hand_in_reference, make_samples

from conftest import copy_course
from kitcourse import KIT1, LINEAR

POINTS = {item.grade_id: item.points for item in KIT1.items}


def auto_total(scores: dict) -> float:
    """The autograded points (the written answer, awaiting a TA or 0, is not nbgrader's to score)."""
    return sum(scores[i.grade_id] for i in KIT1.auto_items)


@pytest.fixture(scope="module")
def graded(kit_course, tmp_path_factory):
    from coursekit.scaffold import nbgrader_config

    course = copy_course(kit_course, tmp_path_factory.mktemp("plain") / "course")
    # What plain nbgrader needs (exclude_overwriting); course id "test", as the gradebook has it.
    (course.root / "nbgrader_config.py").write_text(nbgrader_config("test"))
    make_samples(KIT1, course)
    # (the typical-bugs sample is graded by the sandboxed grader's tests)
    # A student whose Linear.backward forgets the bias gradient's sum.
    dest = copy_release(course.folder("release", "kit1"), course.folder("submitted", "kit1", "nobias"))
    hand_in_reference(KIT1, course.repo, dest)
    break_file(dest, LINEAR, "self.dLdb = dLdO.sum(axis=0)", "self.dLdb = dLdO[0]")
    failed = autograde(KIT1, course, students=["reference", "blank", "nobias"])
    assert failed == []
    return item_scores(course.db_url, KIT1)


def test_the_reference_scores_full_marks(graded):
    assert auto_total(graded["reference"]) == KIT1.auto_points == 19
    assert graded["reference"]["why"] is None  # the model answer, awaiting a TA


def test_an_unchanged_release_scores_zero(graded):
    assert auto_total(graded["blank"]) == 0 and graded["blank"]["why"] == 0


def test_a_broken_linear_backward_also_costs_the_mlps(graded):
    lost = {g for g, p in graded["nobias"].items() if p is not None and p < POINTS[g]}
    # The MLP items run linear.py too (the declaration): 19 - 3 - 2 - 2.
    assert lost == {"linear_backward", "mlp0", "mlp1"}
    assert auto_total(graded["nobias"]) == 12


def test_exclude_overwriting_is_derived_from_the_student_files(repo):
    from traitlets.config import Config, PyFileConfigLoader

    config: Config = PyFileConfigLoader("nbgrader_config.py", path=str(repo)).load_config()
    from coursekit.assignment import assignment_names, load_assignment

    names = assignment_names(repo)
    assert "hw1" in names and len(names) > 1  # every assignment of the course, not only hw1
    assert config.Autograde.exclude_overwriting == {
        name: list(load_assignment(repo, name).student_files) for name in names}


def test_the_environment_does_not_expose_the_reference_library(tmp_path):
    """A kernel started outside the repo must not find `mytorch`, or a missing file would score as the reference."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", "import mytorch"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'mytorch'" in proc.stderr
