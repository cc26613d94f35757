"""Autograde with nbgrader itself: the student's notebooks run in a kernel.

The repo's nbgrader_config.py keeps the students' own library files (see
``exclude_overwriting``), so the score reflects their code.  Tests still run
in the kernel that ran the student's code, so a hostile submission can fake
them; `coursekit.autograde.grader` is the grader that cannot be fooled.
"""
from __future__ import annotations

import sys

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.course import Course, CourseError


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
