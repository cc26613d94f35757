"""Autograde with nbgrader itself: the student's notebooks run in a kernel.

The repo's nbgrader_config.py keeps the students' own library files (see
``exclude_overwriting``), so the score reflects their code.  Tests still run
in the kernel that ran the student's code, so a hostile submission can fake
them; `coursekit.autograde.grader` is the grader that cannot be fooled.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.course import Course, CourseError

if TYPE_CHECKING:
    from coursekit.autograde.grader import GraderConfig
    from coursekit.autograde.run import RunSummary


def autograde(assignment: Assignment, course: Course, students: list[str] | None = None,
              notebooks: str = "*") -> list[str]:
    """Grade each student in turn; returns the students nbgrader reported errors for.

    ``notebooks`` is nbgrader's notebook glob (e.g. ``[!T]*`` leaves out TrainingTester)."""
    from tqdm import tqdm

    failed = []
    todo = students or course.students(assignment.name)
    for student in tqdm(todo, desc=f"autograde {assignment.name}", unit="student", file=sys.stderr):
        try:
            course.nbgrader("autograde", assignment.name, f"--student={student}", f"--notebook={notebooks}",
                            "--force")
        except CourseError as exc:
            # One broken submission must not stop the rest of the class.
            failed.append(student)
            print(f"{safefs.printable(student)}: {safefs.printable(str(exc), 2000)}", file=sys.stderr)
    return failed


class NbgraderExecutor:
    """The ``nbgrader`` executor: :func:`autograde`, one student after another.

    nbgrader regrades every student it is given and writes the gradebook itself, so
    ``force``, ``jobs`` and the kit's grader ``config`` do not apply."""
    name = "nbgrader"

    def __init__(self, notebooks: str = "*"):
        self.notebooks = notebooks

    def autograde(self, assignment: Assignment, course: Course, *, students: list[str] | None,
                  force: bool, config: GraderConfig, jobs: int | None, progress: bool) -> RunSummary:
        from coursekit.autograde.run import RunSummary

        todo = students or course.students(assignment.name)
        failed = autograde(assignment, course, todo, self.notebooks)
        return RunSummary(graded=[s for s in todo if s not in failed],
                          failed={s: "nbgrader reported errors (printed above)" for s in failed})
