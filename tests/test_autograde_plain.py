"""Plain `nbgrader autograde` with the repo's config grades the students' own library.

Expected scores come from the spec's points table: a bug costs exactly the
items whose code it is in.
"""
import pytest

from coursekit.autograde.plain import autograde
from coursekit.gradebook import item_scores
from coursekit.samples import break_file, copy_release, hand_in_reference, make_samples

from conftest import HW1, copy_course

POINTS = {item.grade_id: item.points for item in HW1.items}


def expected(lost: set[str]) -> float:
    return HW1.total_points - sum(POINTS[g] for g in lost)


@pytest.fixture(scope="module")
def graded(released_course, tmp_path_factory):
    course = copy_course(released_course, tmp_path_factory.mktemp("plain") / "course")
    make_samples(HW1, course)
    # (the typical-bugs sample is graded by the sandboxed grader's tests)
    # A student whose Linear.backward forgets the bias gradient's sum.
    dest = copy_release(course.folder("release", "hw1"), course.folder("submitted", "hw1", "nobias"))
    hand_in_reference(HW1, course.repo, dest)
    break_file(dest, "mytorch/nn/linear.py", "self.dLdb = dLdO.sum(axis=0)", "self.dLdb = dLdO[0]")
    # TrainingTester has no graded cells; leaving it out saves a minute of training.
    failed = autograde(HW1, course, students=["reference", "blank", "nobias"], notebooks="[!T]*")
    assert failed == []
    return item_scores(course.db_url, HW1)


def test_the_reference_scores_full_marks(graded):
    assert sum(graded["reference"].values()) == HW1.total_points == 35


def test_an_unchanged_release_scores_zero(graded):
    assert sum(graded["blank"].values()) == 0


def test_a_broken_linear_backward_also_costs_the_mlps(graded):
    lost = {g for g, p in graded["nobias"].items() if p < POINTS[g]}
    assert lost == {"linear_backward", "mlp0", "mlp1", "mlp4"}
    assert sum(graded["nobias"].values()) == 19


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
