"""What runs in a grading worker process: a local pool's, or a Dask worker's.

Each process prepares one :class:`Grader` (per assignment and course files)
and then grades one submission per call.  The references come from the
process that started the run, computed once there, so workers never import
PyTorch and every submission meets the same reference arrays.  Nothing here
imports the gradebook's code: nbgrader's import alone takes seconds.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.autograde.grader import Grader, GraderConfig, Handin, SubmissionResult
from coursekit.autograde.submission import grading_code
from coursekit.course import Course, CourseError

# -- a local pool: the workers read the submitted folders themselves --------------------

_POOL_GRADER: Grader | None = None


def start(assignment: Assignment, course: Course, config: GraderConfig, references: dict) -> None:
    """The pool's initializer."""
    global _POOL_GRADER
    _POOL_GRADER = Grader(assignment, course, config, references)


def grade(student: str) -> SubmissionResult:
    assert _POOL_GRADER is not None, "start() first"
    return _POOL_GRADER.grade(student)


# -- a cluster: the hand-in travels with the task, the result comes back as plain data ---

@dataclass(frozen=True)
class GraderSpec:
    """All a cluster worker needs to prepare the grader, besides the course's files at
    ``course.repo`` (read-only is enough)."""
    assignment: Assignment
    course: Course
    config: GraderConfig
    references: dict
    digest: str  # grader_digest() where the run started: a worker whose copy differs refuses


_CLUSTER_GRADERS: dict[tuple, Grader] = {}


def grade_handin(spec: GraderSpec, handin: Handin) -> dict:
    """One submission, graded from what the client read: its SubmissionResult as a dict."""
    key = (str(spec.course.repo), spec.assignment.name, spec.digest, spec.config)
    if key not in _CLUSTER_GRADERS:
        here = grader_digest(spec.assignment, spec.course)
        if here != spec.digest:
            import socket

            raise CourseError(f"the course files on {socket.gethostname()} ({spec.course.repo}) or its kit "
                              f"differ from those of the run: copy the course and install the same kit there")
        _CLUSTER_GRADERS.clear()  # one grader per worker process: a new run's replaces the last
        _CLUSTER_GRADERS[key] = Grader(spec.assignment, spec.course, spec.config, spec.references)
    return _CLUSTER_GRADERS[key].run(handin).to_dict()


def grader_digest(assignment: Assignment, course: Course) -> str:
    """Changes with anything that decides a grade: the kit's grading code, the assignment's
    declaration, checks, fixture and notebooks (its cases), and the library it stubs."""
    h = hashlib.sha256()
    source = course.repo / "source" / assignment.name
    files = grading_code() + [
        assignment.source, course.source_file(assignment.checks), course.source_file(assignment.fixture),
        *(source / f"{name}.ipynb" for name in assignment.notebooks),
        *(course.source_file(rel) for rel in assignment.student_files)]
    for path in files:
        h.update(str(Path(path).name).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()
