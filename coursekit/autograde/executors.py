"""Where a class's submissions are graded: one interface, chosen by name in one place.

    executor_for("pool").autograde(assignment, course, students=None, force=False,
                                   config=config, jobs=4, progress=True)

``"pool"`` grades in local worker processes (:mod:`coursekit.autograde.run`),
``"dask"`` on a Dask cluster (:mod:`coursekit.autograde.cluster`), and
``"nbgrader"`` is plain ``nbgrader autograde`` (:mod:`coursekit.autograde.plain`),
the baseline that runs the tests in the student's kernel.  The first two differ
only in where :meth:`Grader.grade` runs, so they are :class:`GraderExecutor`
subclasses: the run itself (``run.grade_with``) decides what to grade and is
the gradebook's one writer.  A Slurm executor is one module with such a
subclass, named by a line in ``EXECUTORS``, by :func:`register`, or as
"module:attribute" wherever an executor's name is taken.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from coursekit.autograde.named import resolve
from coursekit.course import CourseError

if TYPE_CHECKING:
    from coursekit.assignment import Assignment
    from coursekit.autograde.grader import Grader, GraderConfig, SubmissionResult
    from coursekit.autograde.run import RunSummary
    from coursekit.course import Course


class Executor(Protocol):
    """Grades an assignment's submissions into the course's gradebook.

    An implementation must grade each student asked for (by default every one
    who submitted) at most once; report each it could not grade in
    ``RunSummary.failed``, never letting one submission stop the others; and
    raise only for the kit's own setup (a missing release, an unusable
    cluster or sandbox), before any submission is graded.
    """
    name: str

    def autograde(self, assignment: Assignment, course: Course, *, students: list[str] | None,
                  force: bool, config: GraderConfig, jobs: int | None, progress: bool) -> RunSummary:
        """Grade, record, and say what happened to whom."""
        ...


@dataclass(frozen=True)
class Batch:
    """What a :class:`GraderExecutor` is given to grade, prepared once in the run's process."""
    grader: Grader                # the run's: its assignment, course, config and digest; reads hand-ins
    references: dict              # grader.references(), computed once: workers need no PyTorch
    students: list[str]           # those to grade (their submission changed, or --force)
    jobs: int                     # how many at a time
    log: Callable[[str], object]  # a line for the instructor, between the progress bar's updates


class GraderExecutor(ABC):
    """An executor that grades with the kit's sandboxed :class:`Grader`.

    The run (``run.grade_with``) picks the submissions that changed, records
    every result in this process, and writes feedback; a subclass only says
    where each submission is graded, in :meth:`results`.
    """
    name = ""

    def autograde(self, assignment: Assignment, course: Course, *, students: list[str] | None,
                  force: bool, config: GraderConfig, jobs: int | None, progress: bool) -> RunSummary:
        from coursekit.autograde.run import grade_with

        return grade_with(self, assignment, course, students=students, force=force, config=config,
                          jobs=jobs, progress=progress)

    @abstractmethod
    def results(self, batch: Batch) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
        """Each of ``batch.students`` exactly once, in any order, with the SubmissionResult
        ``batch.grader.grade(student)`` would give here (same config, references and digest),
        or the exception that stopped it: yielded, never raised."""


# name -> a factory of executors (given the options executor_for takes), or its "module:attribute"
EXECUTORS: dict[str, Callable[..., Executor] | str] = {
    "pool": "coursekit.autograde.run:PoolExecutor",
    "dask": "coursekit.autograde.cluster:DaskExecutor",
    "nbgrader": "coursekit.autograde.plain:NbgraderExecutor",
}


def register(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``factory`` (an Executor class, say) known as ``name`` in this process."""
    EXECUTORS[name] = factory


def executor_for(name: str | None = None, **options: object) -> Executor:
    """The one place an executor is chosen: CourseError (one line) for an unknown name or an
    option it does not take; options that are None are not given.

    ``name``: registered, or "module:attribute"; none: "dask" given ``dask=`` (the cluster,
    see :mod:`coursekit.autograde.cluster`), else "pool".  Making one checks what it can
    before anything starts (the Dask cluster's credentials).
    """
    options = {key: value for key, value in options.items() if value is not None}
    name = name or ("dask" if "dask" in options else "pool")
    try:
        factory = resolve(EXECUTORS, name, "executor")
    except LookupError as exc:
        raise CourseError(str(exc)) from None
    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        raise CourseError(f"the {name!r} executor does not take {', '.join(sorted(options))}") from None
    return factory(**options)
