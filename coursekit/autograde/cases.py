"""The cases each graded item is checked on, read from the instructor's notebooks.

A graded cell calls ``check("<grade_id>")`` (the visible case) and, inside its
``### BEGIN HIDDEN TESTS`` block, ``check("<grade_id>", seed=..., N=...)``.
Reading the calls back keeps the notebook the one place where cases are
written; the grader runs the same cases without executing the cell.
"""
from __future__ import annotations

import ast
from pathlib import Path

from coursekit import ipynb
from coursekit.assignment import Assignment

Case = dict[str, int | float]  # check() keyword arguments; {} is the visible case


class CaseError(ValueError):
    pass


def read_cases(assignment: Assignment, source: Path) -> dict[str, list[Case]]:
    """grade_id -> its cases, the visible case first."""
    cases: dict[str, list[Case]] = {}
    for name in assignment.notebooks:
        path = source / f"{name}.ipynb"
        for cell in ipynb.cells(path):
            meta = cell["metadata"].get("nbgrader", {})
            if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
                cases[meta["grade_id"]] = _calls(cell["source"], meta["grade_id"], path)
    missing = {i.grade_id for i in assignment.auto_items} - set(cases)
    if missing:
        raise CaseError(f"{source}: no graded cell for {', '.join(sorted(missing))}")
    return cases


def _calls(source: str, grade_id: str, path: Path) -> list[Case]:
    found: list[Case] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check":
            args = [ast.literal_eval(a) for a in node.args]
            if args != [grade_id]:
                raise CaseError(f"{path}: cell {grade_id} calls check{tuple(args)}; expected check({grade_id!r}, ...)")
            found.append({kw.arg: ast.literal_eval(kw.value) for kw in node.keywords})
    found.sort(key=len)  # the visible case (no arguments) first
    if not found or found[0]:
        raise CaseError(f"{path}: cell {grade_id} has no visible check({grade_id!r})")
    return found
