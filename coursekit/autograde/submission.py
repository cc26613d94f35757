"""Reading a handed-in folder without trusting it.

Nothing here executes student code or follows a link out of the folder:
library files are read as bytes (symlinks refused), notebooks are parsed as
JSON and compared with the released graded cells.  Every problem becomes one
sentence naming the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.autograde.policy import check_source

MAX_LIBRARY_FILE = 1 << 20
# Written by nbgrader's collect and by `course collect`, not by the student.
NBGRADER_FILES = {"timestamp.txt", "handin.json"}  # a MyTorch file is a few KB; a huge one is an attack on the grader


@dataclass
class Submission:
    student: str
    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # rel path -> text, for readable student files
    file_problems: dict[str, list[str]] = field(default_factory=dict)  # rel path -> why it cannot be used
    notes: list[str] = field(default_factory=list)  # problems that do not change the score


def read_submission(assignment: Assignment, student: str, folder: Path, released: set[str]) -> Submission:
    """``released``: relative paths of every file the student was given (extra files are reported)."""
    sub = Submission(student, folder)
    if not folder.is_dir() or folder.is_symlink():
        sub.notes.append(f"{folder}: no submission folder")
        for rel in assignment.student_files:
            sub.file_problems[rel] = [f"{rel}: not handed in"]
        return sub
    for rel in assignment.student_files:
        text, problem = _read_text(folder, rel)
        if problem:
            sub.file_problems[rel] = [problem]
            continue
        sub.files[rel] = text
        violations = check_source(text, rel)
        if violations:
            sub.file_problems[rel] = [str(v) for v in violations]
    present = _all_files(folder)
    if not present:
        sub.notes.append("the submission folder is empty")
    expected = released | set(assignment.student_files) | NBGRADER_FILES
    extra = sorted(p for p in present - expected
                   if not p.endswith(".ipynb") and "__pycache__" not in p and ".ipynb_checkpoints" not in p)
    if extra:
        shown = ", ".join(extra[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        sub.notes.append(f"extra files were ignored by the grader: {shown}")
    return sub


def _read_text(folder: Path, rel: str) -> tuple[str, str | None]:
    path = folder / rel
    if not _inside(folder, path):
        return "", f"{rel}: is a link pointing outside the submission; links are not accepted"
    if not path.exists():
        return "", f"{rel}: missing (was it renamed or deleted?)"
    if not path.is_file():
        return "", f"{rel}: is not a regular file"
    if path.stat().st_size > MAX_LIBRARY_FILE:
        return "", f"{rel}: larger than {MAX_LIBRARY_FILE >> 10} KB"
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        return "", f"{rel}: not UTF-8 text (byte {err.start}); save the file as UTF-8"


def _inside(folder: Path, path: Path) -> bool:
    """True if no component of path below folder is a symlink."""
    current = folder
    for part in path.relative_to(folder).parts:
        current = current / part
        if current.is_symlink():
            return False
    return True


def _all_files(folder: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links
        for name in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), folder))
        if len(found) > 10_000:
            break
    return found


def check_notebooks(assignment: Assignment, folder: Path, released_cells: dict[str, dict[str, str]]) -> list[str]:
    """Notes on the handed-in notebooks; graded cells are compared with the released ones.

    The score comes from the library code, so a notebook problem is reported,
    not deducted — and editing a graded cell can never earn anything."""
    notes = []
    for name in assignment.notebooks:
        path = folder / f"{name}.ipynb"
        rel = path.name
        if path.is_symlink() or not path.is_file():
            notes.append(f"{rel}: missing")
            continue
        try:
            nb = json.loads(path.read_bytes().decode("utf-8"))
            cells = nb["cells"]
            assert isinstance(cells, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            notes.append(f"{rel}: not a valid notebook (cannot be read as notebook JSON)")
            continue
        seen: dict[str, str] = {}
        for cell in cells:
            meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(gid, str) and gid in released_cells.get(name, {}):
                source = cell.get("source", "")
                seen[gid] = "".join(source) if isinstance(source, list) else str(source)
                if not meta.get("grade") or not meta.get("locked"):
                    notes.append(f"{rel}: graded cell {gid} was re-flagged (its nbgrader metadata changed)")
        for gid, source in released_cells.get(name, {}).items():
            if gid not in seen:
                notes.append(f"{rel}: graded cell {gid} was deleted")
            elif seen[gid].strip() != source.strip():
                notes.append(f"{rel}: graded cell {gid} was edited")
    return notes
