"""How a library file looks in one assignment: the one place that says it.

The reference library serves every assignment of the course.  An assignment
sees only the ``### BEGIN FROM`` / ``### BEGIN UNTIL`` regions in its scope
(:mod:`coursekit.library.stub`), and, of a student file, only the top-level
classes and functions it declares.  The release writes these views, the grader
rebuilds the stubs from them, and the samples hand in the reference view.
"""
from __future__ import annotations

import re
from pathlib import Path

from coursekit.assignment import DECLARATION, Assignment
from coursekit.course import Course
from coursekit.library.markers import course_order
from coursekit.library.stub import scope_text, stub_source


def order_of(assignment: Assignment, course: Course | None = None) -> list[str]:
    """The course's assignments in order, ``assignment`` among them: those declared in ``course``
    (by default, in the course directory holding the assignment's declaration)."""
    if course is not None:
        return course_order(course.repo, assignment.name)
    source = assignment.source
    course_dir = source.parent.parent.parent if source.name == DECLARATION else None
    return course_order(course_dir, assignment.name)


def student_stub(assignment: Assignment, rel: str, text: str, order: list[str] | None = None) -> str:
    """The released form of a student file: the regions of other assignments' scope gone,
    solutions stubbed, and only the classes and functions this assignment has reached
    (a later assignment's additions stay out). ``order``: the course's assignments."""
    view = scope_text(text, assignment.name, order or order_of(assignment), rel)
    return keep_top_level(stub_source(view, rel), assignment.names_in(rel))


def library_view(assignment: Assignment, rel: str, text: str, order: list[str] | None = None) -> str:
    """The released form of a library file (given as-is): only the regions in the assignment's scope."""
    return scope_text(text, assignment.name, order or order_of(assignment), rel)


def keep_top_level(text: str, names: tuple[str, ...] | None) -> str:
    """``text`` without the top-level classes and functions not in ``names`` (unchanged if all
    are, or if ``names`` is None)."""
    import ast

    if names is None:
        return text
    tree = ast.parse(text)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in names:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.append((start, node.end_lineno))
    if not drop:
        return text
    lines = text.splitlines(keepends=True)
    gone = {n for start, end in drop for n in range(start, end + 1)}
    kept = [line for n, line in enumerate(lines, 1) if n not in gone]
    # Two blank lines between what is left, as before; none dangling at the end.
    out = re.sub(r"\n{4,}", "\n\n\n", "".join(kept))
    return out.rstrip("\n") + "\n"



def reference_file(assignment: Assignment, repo: Path, rel: str) -> str:
    """The instructor's student file ``rel`` as the assignment has it: the regions of other
    assignments' scope gone, only the classes and functions it has reached (what a student who
    solved exactly this assignment hands in)."""
    text = (Path(repo) / rel).read_text(encoding="utf-8")
    view = scope_text(text, assignment.name, course_order(repo, assignment.name), rel)
    return keep_top_level(view, assignment.names_in(rel))
