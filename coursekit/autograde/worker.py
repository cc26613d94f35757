"""What runs in a grading worker process: a local pool's, or a Dask worker's.

Each process prepares one :class:`Grader` (per assignment and course files)
and then grades one submission per call.  The references come from the
process that started the run, computed once there, so workers never import
PyTorch and every submission meets the same reference arrays.  Nothing here
imports the gradebook's code: nbgrader's import alone takes seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

from coursekit.assignment import Assignment
from coursekit.autograde.grader import Grader, GraderConfig, Handin
from coursekit.results import SubmissionResult
from coursekit.autograde.inputs import grader_digest  # what a worker checks its own copy with
from coursekit.course import Course, CourseError

# -- a local pool: the workers read the submitted folders themselves --------------------

_POOL_GRADER: Grader | None = None


def start(assignment: Assignment, course: Course, config: GraderConfig, references: dict, digest: str) -> None:
    """The pool's initializer (``digest``: the run's ``inputs.run_digest``)."""
    global _POOL_GRADER
    _POOL_GRADER = Grader(assignment, course, config, references, digest)


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

            raise CourseError(f"the course files on {socket.gethostname()} ({spec.course.repo}), its kit or its "
                              f"Python packages differ from those of the run: copy the course and install the "
                              f"same kit, Python and numpy there")
        _CLUSTER_GRADERS.clear()  # one grader per worker process: a new run's replaces the last
        _CLUSTER_GRADERS[key] = Grader(spec.assignment, spec.course, spec.config, spec.references)
    return _CLUSTER_GRADERS[key].run(handin).to_dict()
