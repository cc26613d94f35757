"""What the hand-in needs to know about an assignment, as plain data.

The release writes it into ``handin.py`` so that the student's copy of the
kit does not need the instructor's ``coursekit.assignment``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# Student ids become folder names under submitted/: no separators, no dots first.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class HandinError(Exception):
    """An expected failure; the command line prints it as one line, no traceback."""


@dataclass(frozen=True)
class HandinSpec:
    name: str  # the assignment's name
    notebooks: tuple[str, ...]  # tester notebooks, without ".ipynb", in handout order
    student_files: tuple[str, ...]  # library files students edit, relative to the folder
    library_roots: tuple[str, ...]  # top-level folders of the library ("mytorch",)
    title: str = ""  # the assignment's declared title, shown on the cover: "MyTorch, part 1"

    @property
    def pdf_name(self) -> str:
        return f"{self.name}_handin.pdf"

    @property
    def zip_name(self) -> str:
        return f"{self.name}_handin.zip"

    def notebook_files(self) -> tuple[str, ...]:
        return tuple(f"{nb}.ipynb" for nb in self.notebooks)

    def required_members(self) -> tuple[str, ...]:
        """Paths a hand-in zip must hold for the grader to see all the work."""
        return self.notebook_files() + self.student_files

    def is_library_file(self, rel: str) -> bool:
        """A ``.py`` file inside the library (what the zip carries besides notebooks)."""
        path = PurePosixPath(rel)
        return (len(path.parts) > 1 and path.parts[0] in self.library_roots and path.suffix == ".py"
                and "__pycache__" not in path.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "notebooks": list(self.notebooks),
                "student_files": list(self.student_files), "library_roots": list(self.library_roots)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandinSpec:
        return cls(name=data["name"], notebooks=tuple(data["notebooks"]),
                   student_files=tuple(data["student_files"]),
                   library_roots=tuple(data["library_roots"]), title=data.get("title", ""))


def spec_of(assignment: Any, title: str | None = None) -> HandinSpec:
    """The hand-in facts of a ``coursekit.assignment.Assignment`` (instructor side); the cover's
    title is the one the assignment declares (none where that is only its name)."""
    files = tuple(assignment.student_files) + tuple(assignment.library_files)
    roots = tuple(sorted({PurePosixPath(f).parts[0] for f in files if len(PurePosixPath(f).parts) > 1}))
    if title is None:
        title = assignment.title if assignment.title and assignment.title != assignment.name else ""
    return HandinSpec(assignment.name, tuple(assignment.notebooks), tuple(assignment.student_files), roots, title)


def launcher_source(spec: HandinSpec) -> str:
    """The ``handin.py`` the release puts next to the notebooks."""
    import json

    facts = json.dumps(spec.to_dict(), indent=4)
    return f'''"""Hand in {spec.name}: run every tester notebook, then write {spec.zip_name} (upload it)
and {spec.pdf_name} (your notebooks and code, to read or print) in this folder.

    python handin.py                                      # asks your name and student id the first time
    python handin.py --name "Ada Lovelace" --id s1234567
    python handin.py --help

Written by the course kit; please do not edit.
"""
import sys
from pathlib import Path

from coursekit.runtime.handin.main import main

ASSIGNMENT = {facts}

if __name__ == "__main__":
    sys.exit(main(ASSIGNMENT, Path(__file__).resolve().parent))
'''
