"""Sample submissions for the demo and the tests: three students a course always has.

* ``reference`` hands in the instructor's library (every check passes);
* ``blank`` hands in the release unchanged (every check fails);
* ``buggy`` makes a few typical mistakes, each costing a known set of items.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.course import Course

# (file, correct line, buggy line, grade ids the bug costs)
TYPICAL_BUGS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("mytorch/nn/activation.py", "return 1 - self.A**2", "return 1 - self.A", ("tanh",)),
    ("mytorch/nn/loss.py", "return 2 * (self.O - self.Y) / self.O.size",
     "return (self.O - self.Y) / self.O.size", ("mse_backward",)),
    ("mytorch/nn/linear.py", "self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))",
     "self.W = np.random.uniform(-0.1, 0.1, size=(num_inputs, num_outputs))", ("linear_init",)),
)


def copy_release(release: Path, dest: Path) -> Path:
    """dest becomes a copy of the released folder, as a student downloads it."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(release, dest, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return dest


def hand_in_reference(assignment: Assignment, repo: Path, dest: Path) -> None:
    """Replace the stubs in dest with the instructor's files."""
    for rel in assignment.student_files:
        shutil.copy(repo / rel, dest / rel)


def break_file(dest: Path, rel: str, correct: str, buggy: str) -> None:
    path = dest / rel
    text = path.read_text()
    if correct not in text:
        raise ValueError(f"{path}: cannot plant a bug, {correct!r} not found")
    path.write_text(text.replace(correct, buggy))


def make_samples(assignment: Assignment, course: Course, bugs=TYPICAL_BUGS) -> dict[str, Path]:
    """Write submitted/<student>/<assignment> for the three sample students."""
    repo, submitted = course.repo, course.root / "submitted"
    release = course.folder("release", assignment.name)
    if not release.is_dir():
        raise FileNotFoundError(f"{release} does not exist; run `course release {assignment.name}` first")
    folders = {s: copy_release(release, submitted / s / assignment.name) for s in ("reference", "blank", "buggy")}
    hand_in_reference(assignment, repo, folders["reference"])
    hand_in_reference(assignment, repo, folders["buggy"])
    for rel, correct, buggy, _ in bugs:
        break_file(folders["buggy"], rel, correct, buggy)
    return folders
