"""Reading a handed-in folder without trusting it.

Nothing here executes student code or follows a link out of the folder:
every look at the folder goes through ``safefs`` (no links, nothing but
regular files opened, every read capped, no recursion), library files are
read as bytes, notebooks are parsed as JSON and compared with the released
graded cells with every field's type checked.  Whatever a hand-in contains
becomes a sentence naming the file — a note, or a problem that costs only
the items using that file — and never an exception: nothing in one
student's folder can stop their own grading or anyone else's.

The code of a notebook solution cell that an item declares (``cell = ...``)
is read like a library file: taken as text from the handed-in notebook,
held to the same source policy, and run only by the sandboxed harness.  No
other cell of a notebook is ever taken as code.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.runtime.checks.library import MAX_LIBRARY_FILE, source_problems
from coursekit.timestamps import TIMESTAMP, parse_timestamp

if TYPE_CHECKING:
    from datetime import datetime

# A notebook with outputs can be a few MB; larger is not read (nor copied for formgrader).
MAX_NOTEBOOK_BYTES = 20 << 20
# What parsing one notebook may take at its peak: its decoded text and the Python objects
# built from it, estimated from the raw bytes before parsing (structure_size).  json.loads
# turns 3 bytes of "{}," into 72 bytes of objects, so 20 MB of empty cells would build
# ~500 MB (and a student hands in several notebooks); an honest notebook is mostly strings
# (code, text and base64 images) and takes about twice its size.  The estimate is a worst
# case (real objects are half of it or less, but for long strings), and this fits a 20 MB
# notebook of images, or one with 400,000 lines of output.
MAX_NOTEBOOK_MEMORY = 128 << 20
# The most the parsed notebooks kept for their other readers (_PARSED) may take in all (an
# honest hand-in's take well under 1 MB); one beyond it is parsed again each time it is read.
MAX_KEPT_MEMORY = 32 << 20
# structure_size: the most CPython (3.10-3.13, 64-bit) spends on each of these characters when it
# is structure, not inside a string: a container (a dict of one key is 184 bytes, a list of
# one item over-allocated 88, plus the pointer to it); a value after "," or ":" (a float is
# 24, an int of up to 30 digits 40, plus its pointer and list growth); a string (its header,
# up to 76 bytes, and pointer), counted at its closing quote.  The characters themselves
# (strings', numbers' digits) are counted by the decoded text's own size.  Measured worst:
# 60 bytes per character of structure ("[1.5],").
_OBJECT_BYTES = {b"{": 192, b"[": 192, b",": 48, b":": 48, b'"': 96}
_OBJECT_COST = np.array([_OBJECT_BYTES.get(bytes([c]), 0) for c in range(256)], dtype=np.int64)
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - {c[0] for c in _OBJECT_BYTES}))
# Written by `nbgrader submit` (timestamp, the secret its feedback is released under) or by
# `course collect` and handin.py, not by the student.
NBGRADER_FILES = {"timestamp.txt", "submission_secret.txt", "handin.json"}
TIMESTAMP_BYTES = 4096  # nbgrader's are 30 bytes

# The most any reader of a hand-in file reads (library files, notebooks, timestamp.txt, the
# exchange's secret): fingerprint() hashes each such file whole up to this, and a larger one as
# only that fact, since every reader refuses it unread.
READ_CAP = max(MAX_LIBRARY_FILE, MAX_NOTEBOOK_BYTES, TIMESTAMP_BYTES)


@dataclass
class Submission:
    student: str
    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # rel path -> text, for readable student files
    file_problems: dict[str, list[str]] = field(default_factory=dict)  # rel path -> why it cannot be used
    notes: list[str] = field(default_factory=list)  # problems that do not change the score
    # (notebook, cell grade id) -> source of each solution cell an item runs, and why one cannot be run.
    cells: dict[tuple[str, str], str] = field(default_factory=dict)
    cell_problems: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def cell_label(notebook: str, cell: str) -> str:
    """How messages name a notebook cell whose code an item runs."""
    return f"{notebook}.ipynb, cell {cell}"


def read_submission(assignment: Assignment, student: str, folder: Path, released: set[str]) -> Submission:
    """``released``: relative paths of every file the student was given (extra files are reported)."""
    # A new look at the hand-in: nothing parsed before counts (a notebook rewritten in place can
    # keep its inode, size and mtime, the parse memo's key).
    _PARSED.clear()
    sub = Submission(student, folder)
    code_cells = sorted({(item.notebook, item.cell) for item in assignment.auto_items if item.cell})
    missing = safefs.folder_problem(folder)
    if missing:
        sub.notes.append(missing.message)
        for rel in assignment.student_files:
            sub.file_problems[rel] = [f"{rel}: not handed in"]
        for key in code_cells:
            sub.cell_problems[key] = [f"{cell_label(*key)}: not handed in"]
        return sub
    for rel in assignment.student_files:
        text, problem = _read_text(folder, rel)
        if problem:
            sub.file_problems[rel] = [problem]
            continue
        sub.files[rel] = text
        violations = _check_source(text, rel, assignment)
        if violations:
            sub.file_problems[rel] = violations
    for notebook in dict.fromkeys(nb for nb, _ in code_cells):
        wanted = [cell for nb, cell in code_cells if nb == notebook]
        for cell, (text, problem) in solution_cells(folder, notebook, wanted).items():
            key = (notebook, cell)
            if problem:
                sub.cell_problems[key] = [problem]
                continue
            sub.cells[key] = text
            violations = _check_source(text, cell_label(notebook, cell), assignment)
            if violations:
                sub.cell_problems[key] = violations
    entries, problems = safefs.walk(folder)
    sub.notes.extend(problems)
    present = {e.rel: e for e in entries if e.kind != "dir"}
    if not present:
        sub.notes.append("the submission folder is empty")
    expected = released | set(assignment.student_files) | NBGRADER_FILES
    extra = sorted(e.shown for rel, e in present.items() if rel not in expected
                   and not rel.endswith(".ipynb") and "__pycache__" not in rel and ".ipynb_checkpoints" not in rel)
    if extra:
        shown = ", ".join(extra[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        sub.notes.append(f"extra files were ignored by the grader: {shown}")
    unreadable_time = handin_time(folder)[1]
    if unreadable_time:
        sub.notes.append(unreadable_time)
    return sub


def handin_time(folder: Path) -> tuple[datetime | None, str]:
    """The hand-in time that ``timestamp.txt`` gives (aware UTC; None if there is none), and, if
    the file is there but holds no time the kit can read, the note that says so (else "").

    Through nbgrader's exchange the student writes this file: nothing in it may stop a result."""
    data = safefs.read_capped(folder, TIMESTAMP, TIMESTAMP_BYTES)
    if isinstance(data, safefs.Problem):
        return None, "" if data.kind in ("missing", "folder") else f"the hand-in time is unknown: {data.message}"
    when = parse_timestamp(data.decode("utf-8", "replace"))
    if when is None:
        return None, (f"the hand-in time is unknown: {TIMESTAMP} holds no time that can be read "
                      "(nbgrader writes one like 2025-01-10 12:00:00.000000 UTC)")
    return when, ""


def _read_text(folder: Path, rel: str) -> tuple[str, str | None]:
    data = safefs.read_capped(folder, rel, MAX_LIBRARY_FILE)
    if isinstance(data, safefs.Problem):
        return "", data.message
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as err:
        return "", f"{rel}: not UTF-8 text (byte {err.start}); save the file as UTF-8"


def _check_source(text: str, where: str, assignment: Assignment) -> list[str]:
    return source_problems(text, where, assignment.allowed_modules, assignment.package)


# -- notebooks -----------------------------------------------------------------------

def check_notebooks(assignment: Assignment, folder: Path, released_cells: dict[str, dict[str, str]]) -> list[str]:
    """Notes on the handed-in notebooks; graded cells are compared with the released ones.

    The score comes from the library code, so a notebook problem is reported,
    not deducted — and editing a graded cell can never earn anything.  A
    missing folder gives no notes here: read_submission reports it."""
    notes: list[str] = []
    if safefs.folder_problem(folder):
        return notes
    for name in assignment.notebooks:
        rel = f"{name}.ipynb"
        try:
            notes.extend(_check_notebook(folder, rel, released_cells.get(name, {})))
        except Exception as exc:  # noqa: BLE001 - last resort: a notebook never stops the grading
            notes.append(f"{rel}: could not be checked ({type(exc).__name__})")
    return notes


def _check_notebook(folder: Path, rel: str, released: dict[str, str]) -> list[str]:
    cells, problem = read_cells(folder, rel)
    if problem:
        return [problem]
    notes: list[str] = []
    seen: dict[str, str | None] = {}  # grade id -> source (None: not text)
    skipped = 0
    for cell in cells:
        if not isinstance(cell, dict):
            skipped += 1
            continue
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        if not isinstance(meta, dict):
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or gid not in released:
            continue
        seen[gid] = source_text(cell.get("source", ""))
        if not meta.get("grade") or not meta.get("locked"):
            notes.append(f"{rel}: graded cell {gid} was re-flagged (its nbgrader metadata changed)")
    if skipped:
        notes.append(f"{rel}: {skipped} cell(s) are not notebook cells and were ignored")
    for gid, source in released.items():
        if gid not in seen:
            notes.append(f"{rel}: graded cell {gid} was deleted")
        elif seen[gid] is None:
            notes.append(f"{rel}: graded cell {gid} was edited (its source is not text)")
        elif seen[gid].strip() != source.strip():
            notes.append(f"{rel}: graded cell {gid} was edited")
    return notes


# One student's parsed notebooks: check_notebooks, the solution cells an item runs and the
# written answers all look at the same files, which are parsed once per version of the file
# (up to MAX_KEPT_MEMORY in all): file -> (its stat, (cells, problem), estimated size).
_PARSED: dict[tuple[str, str], tuple[tuple[int, ...], tuple[list, str | None], int]] = {}


def read_cells(folder: Path, rel: str) -> tuple[list, str | None]:
    """The cells of a handed-in notebook (not to be changed by the caller), or why there are none."""
    try:
        st = os.lstat(folder / rel)  # only the memo's key; the file is read through safefs
        stamp: tuple[int, ...] | None = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    key = (str(folder), rel)
    if stamp is not None and key in _PARSED and _PARSED[key][0] == stamp:
        return _PARSED[key][1]
    result, size = _parse_cells(folder, rel)
    if any(other != key[0] for other, _ in _PARSED):
        _PARSED.clear()  # a new student: keep only this one's notebooks
    _PARSED.pop(key, None)
    if stamp is not None and size + sum(kept for _, _, kept in _PARSED.values()) <= MAX_KEPT_MEMORY:
        _PARSED[key] = (stamp, result, size)
    return result


def structure_size(data: bytes, enough: int) -> int:
    """At most how many bytes of Python objects (beyond the characters of its strings and
    numbers) ``json.loads`` builds from the JSON text ``data``, counted without building any;
    when that is at most ``enough``, possibly a cheaper, larger bound."""
    rough = sum(data.count(char) * cost for char, cost in _OBJECT_BYTES.items())
    if rough <= enough:
        return rough  # counting every such character inside strings as structure too
    # Without escaped backslashes, then escaped quotes, every quote left opens or closes a string.
    skeleton = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    size, inside = 0, np.uint8(0)
    for start in range(0, len(codes), safefs.CHUNK):  # in chunks: a few MB at a time, whatever the file
        chunk = codes[start:start + safefs.CHUNK]
        # 1 from an opening quote up to (not including) its closing quote: inside a string.
        parity = np.bitwise_xor.accumulate((chunk == ord('"')).view(np.uint8)) ^ inside
        inside = parity[-1]
        size += int(_OBJECT_COST[chunk[parity == 0]].sum())
    return size


def _parse_cells(folder: Path, rel: str) -> tuple[tuple[list, str | None], int]:
    """(cells, problem) as read_cells gives them, and at most how much memory the cells take."""
    invalid = f"{rel}: not a valid notebook"
    data = safefs.read_capped(folder, rel, MAX_NOTEBOOK_BYTES)
    if isinstance(data, safefs.Problem):
        return ([], f"{rel}: missing" if data.kind == "missing" else data.message), 0
    structure = structure_size(data, MAX_NOTEBOOK_MEMORY - 2 * len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return ([], f"{invalid} (not UTF-8 text, byte {err.start})"), 0
    del data
    # The text, and as much again: what its strings and numbers hold is no larger.
    size = structure + 2 * sys.getsizeof(text)
    if size > MAX_NOTEBOOK_MEMORY:
        return ([], f"{rel}: too large to read: its JSON would take about {size >> 20} MB of memory, at most "
                    f"{safefs.size_text(MAX_NOTEBOOK_MEMORY)} is read (millions of cells, outputs or values?); "
                    "clear its outputs and hand it in again"), 0
    try:
        nb = json.loads(text)
    except RecursionError:
        return ([], f"{invalid} (its JSON is nested too deeply)"), 0
    except (ValueError, MemoryError):
        return ([], f"{invalid} (cannot be read as notebook JSON)"), 0
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return ([], f"{invalid} (cannot be read as notebook JSON: no list of cells)"), 0
    return (nb["cells"], None), size


def cell_sources(folder: Path, notebook: str) -> tuple[dict[str, str | None], str | None]:
    """grade id -> source of each cell with nbgrader metadata in a handed-in notebook (None: the
    source is not text), and the problem if the notebook cannot be read; never raises."""
    cells, problem = read_cells(folder, f"{notebook}.ipynb")
    found: dict[str, str | None] = {}
    for cell in cells:
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id not in found:
            found[grade_id] = source_text(cell.get("source", ""))
    return found, problem


def solution_cells(folder: Path, notebook: str, wanted: list[str]) -> dict[str, tuple[str, str]]:
    """cell grade id -> (source, "") of each wanted code cell of a handed-in notebook, or ("", why
    it cannot be run): the notebook is unreadable, the cell is gone, there are two, it is no longer
    a code cell, its source is not text or is too large.  Never raises."""
    cells, problem = read_cells(folder, f"{notebook}.ipynb")
    found: dict[str, list[dict]] = {cell: [] for cell in wanted}
    for cell in cells:
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id in found:
            found[grade_id].append(cell)
    rel = f"{notebook}.ipynb"
    detail = problem[len(rel) + 2:] if problem and problem.startswith(f"{rel}: ") else problem
    result: dict[str, tuple[str, str]] = {}
    for grade_id, matches in found.items():
        text = source_text(matches[0].get("source", "")) if len(matches) == 1 else None
        encoded = _utf8(text) if text is not None else None
        if problem:
            why = "the notebook is missing" if detail == "missing" else f"the notebook could not be read: {detail}"
        elif not matches:
            why = "the cell is missing (deleted, or its nbgrader metadata was removed)"
        elif len(matches) > 1:
            why = f"{len(matches)} cells have this grade id; only the released solution cell may"
        elif matches[0].get("cell_type") != "code":
            why = "it is no longer a code cell"
        elif text is None or encoded is None:
            why = "its source is not text"
        elif len(encoded) > MAX_LIBRARY_FILE:
            why = f"its code is larger than {MAX_LIBRARY_FILE >> 20} MB"
        else:
            result[grade_id] = (text, "")
            continue
        result[grade_id] = ("", f"{cell_label(notebook, grade_id)}: {why}")
    return result


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON can spell
        return None


def source_text(source: object) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return None


# -- fingerprint -----------------------------------------------------------------------

def read_files(assignment: Assignment) -> frozenset[str]:
    """The hand-in's files whose bytes grading reads: the student files, the notebooks, and the
    hand-in time and secret (the gradebook row and the exchange's feedback pages use them)."""
    return frozenset([*assignment.student_files, *(f"{nb}.ipynb" for nb in assignment.notebooks),
                      TIMESTAMP, "submission_secret.txt"])


def fingerprint(folder: Path, assignment: Assignment | None = None, grader: str = "") -> str:
    """Changes whenever anything grading uses of the hand-in changes: every byte of the files it
    reads (:func:`read_files` of ``assignment``; every file without one), and the names and kinds
    of all else in the folder (extra files are reported by name).  ``grader``: the run's digest
    of the grader's own inputs (``inputs.run_digest``), which the fingerprint covers too.

    Never raises for anything the folder contains: it is looked at through
    ``safefs`` (no links followed, only regular files opened, at most
    ``safefs.MAX_DEPTH`` levels and ``safefs.MAX_ENTRIES`` entries).  A file is
    hashed whole up to READ_CAP; a larger one, which every reader refuses
    unread, as that fact (so a sparse 50 GB file costs nothing); what could
    not be looked at is hashed as the sentence that says so."""
    h = hashlib.sha256(b"grader\0" + grader.encode() + b"\0")
    reads = read_files(assignment) if assignment is not None else None
    records: list[tuple[bytes, bytes]] = []

    def on_file(entry: safefs.Entry, fd: int) -> None:
        if "__pycache__" in entry.parts:
            return
        if reads is None or entry.rel in reads:
            records.append((entry.raw, b"file\0" + safefs.digest_fd(fd, os.fstat(fd), cap=READ_CAP)))
        else:
            records.append((entry.raw, b"file"))  # never read: only its name counts

    entries, problems = safefs.walk(folder, on_file=on_file)
    for entry in entries:
        if entry.kind == "file" or "__pycache__" in entry.parts:
            continue  # files: hashed by on_file (or not readable: then a problem says so)
        records.append((entry.raw, entry.kind.encode()))
    for raw, record in sorted(records):
        h.update(b"%d\0" % len(raw) + raw + b"%d\0" % len(record) + record)
    for problem in problems:
        h.update(b"problem\0" + problem.encode("utf-8", "backslashreplace") + b"\0")
    return h.hexdigest()[:32]
