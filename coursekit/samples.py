"""Sample submissions for the demo and the tests: three students a course always has.

* ``reference`` hands in the instructor's library (every check passes);
* ``blank`` hands in the release unchanged (every check fails);
* ``buggy`` makes a few typical mistakes, each costing a known set of items:
  the ``BUGS`` of the assignment's ``samples`` module (course content), as
  ``(file, correct text, buggy text, grade ids it costs)``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import importlib.util

from coursekit.assignment import Assignment
from coursekit.course import Course

Bug = tuple[str, str, str, tuple[str, ...]]  # (file, correct text, buggy text, grade ids it costs)


def typical_bugs(assignment: Assignment, course: Course) -> tuple[Bug, ...]:
    """The assignment's declared typical mistakes (none if it declares no samples module)."""
    if not assignment.samples:
        return ()
    spec = importlib.util.spec_from_file_location(f"samples_{assignment.name}", course.source_file(assignment.samples))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.BUGS)


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


def make_samples(assignment: Assignment, course: Course, bugs: tuple[Bug, ...] | None = None) -> dict[str, Path]:
    """Write submitted/<student>/<assignment> for the three sample students."""
    bugs = typical_bugs(assignment, course) if bugs is None else bugs
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
