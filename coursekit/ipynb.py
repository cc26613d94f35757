"""The course's own notebooks (release and source, the instructor's files), read as plain JSON.

Grading processes read them at start-up; nbformat's import alone takes seconds
there (its JSON-schema validator builds grammars on import), and these files
were written by nbformat and checked by ``course validate`` already.
Hand-ins are never read with this: see ``coursekit/autograde/submission.py``.
"""
from __future__ import annotations

import json
from pathlib import Path


def cells(path: Path) -> list[dict]:
    """The notebook's cells, each with its ``source`` as one string (the file may split it in lines)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else source
        cell.setdefault("metadata", {})
    return cells
