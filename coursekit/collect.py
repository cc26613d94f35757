"""`course collect hw1 FOLDER`: import hand-in zips into ``submitted/<student>/hw1/``.

Like nbgrader's zip collect, for the zips ``python handin.py`` writes.  Whose
zip it is comes from its file name, as a course site's bulk download names
files, else from the ``handin.json`` inside it:

* ``<student>.zip`` or ``<student>_<anything>.zip`` -> ``<student>``
  (student ids must then not contain ``_``);
* ``hw1_handin.zip`` (the name handin.py gives it, also ``hw1_handin (2).zip``)
  -> the ``id`` recorded in its ``handin.json``.

Every zip is inspected before anything is unpacked (the same check the
student's handin.py ran): absolute paths, ``..``, links, oversized or too
many members, and files that are not zips are refused with a one-line
reason, and the others go on.  Only the notebooks and the library's ``.py``
files are unpacked.  A submission is replaced only by a newer one: the time
is the hand-in time in ``handin.json`` (else the newest file in the zip),
and it is written to nbgrader's ``timestamp.txt``.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.course import Course, CourseError
from coursekit.handin.bundle import ZipCheck, ZipRefused, extract, inspect_zip
from coursekit.handin.spec import STUDENT_ID, HandinSpec, spec_of

TIMESTAMP = "timestamp.txt"


@dataclass
class CollectReport:
    collected: dict[str, str] = field(default_factory=dict)  # student -> zip file name
    skipped: list[str] = field(default_factory=list)  # "<zip>: why" (not newer, superseded)
    refused: list[str] = field(default_factory=list)  # "<zip>: why" (unsafe, malformed, whose?)
    notes: list[str] = field(default_factory=list)  # collected, but worth a look
    ignored: int = 0  # files in the folder that are not zips


@dataclass
class _Candidate:
    path: Path
    check: ZipCheck
    student: str
    when: dt.datetime


def collect(assignment: Assignment, course: Course, folder: Path) -> CollectReport:
    """Import every ``*.zip`` in ``folder`` (not its subfolders) for ``assignment``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such folder of hand-in zips")
    spec = spec_of(assignment)
    report = CollectReport()
    newest: dict[str, _Candidate] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() != ".zip":
            report.ignored += 1
            continue
        candidate = _inspect(path, spec, report)
        if candidate is None:
            continue
        other = newest.get(candidate.student)
        if other is None or candidate.when > other.when:
            if other is not None:
                report.skipped.append(f"{other.path.name}: superseded by the newer {path.name} "
                                      f"of {candidate.student}")
            newest[candidate.student] = candidate
        else:
            report.skipped.append(f"{path.name}: superseded by the newer {other.path.name} of {other.student}")
    for student, candidate in sorted(newest.items()):
        _import(candidate, spec, course, report)
    return report


def _inspect(path: Path, spec: HandinSpec, report: CollectReport) -> _Candidate | None:
    check = inspect_zip(path, spec)
    if check.refusal:
        report.refused.append(check.refusal)
        return None
    recorded = check.meta.get("assignment")
    if isinstance(recorded, str) and recorded != spec.name:
        report.refused.append(f"{path.name}: is a hand-in for {recorded}, not {spec.name}")
        return None
    student, why = student_of(path, check, spec)
    if not student:
        report.refused.append(f"{path.name}: {why}")
        return None
    if why:
        report.notes.append(f"{path.name}: {why}")
    return _Candidate(path, check, student, handed_in_at(path, check))


def student_of(path: Path, check: ZipCheck, spec: HandinSpec) -> tuple[str, str]:
    """(student, note) from the file name or handin.json; ("", why not) if neither says."""
    recorded = check.meta.get("id")
    recorded = recorded if isinstance(recorded, str) and STUDENT_ID.match(recorded) else ""
    stem = path.stem
    if stem.startswith(f"{spec.name}_handin"):
        if recorded:
            return recorded, ""
        return "", (f"cannot tell whose it is: its handin.json names no student id; "
                    f"rename it <student>_{path.name}")
    named = stem.split("_", 1)[0]
    if not STUDENT_ID.match(named):
        if recorded:
            return recorded, f"file name does not start with a student id; using {recorded} from its handin.json"
        return "", f"cannot tell whose it is: name it <student>.zip or <student>_{spec.zip_name}"
    if recorded and recorded != named:
        return named, f"file name says {named}, its handin.json says {recorded}; collected as {named}"
    return named, ""


def handed_in_at(path: Path, check: ZipCheck) -> dt.datetime:
    """The hand-in time recorded by handin.py, else the newest file in the zip, else the zip's mtime (UTC)."""
    recorded = parse_timestamp(check.meta.get("timestamp"))
    if recorded:
        return recorded
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            stamps = [zf.getinfo(name).date_time for name in check.members.values()]
        if stamps:
            # Zip times are local, without a zone.
            return dt.datetime(*max(stamps)).astimezone(dt.timezone.utc)
    except (zipfile.BadZipFile, OSError, ValueError):
        pass
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def parse_timestamp(value: object) -> dt.datetime | None:
    """ISO 8601 or nbgrader's "2024-01-31 12:00:00.000000 UTC", as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def _import(candidate: _Candidate, spec: HandinSpec, course: Course, report: CollectReport) -> None:
    name, student = candidate.path.name, candidate.student
    dest = course.folder("submitted", spec.name, student)
    if dest.is_symlink() or dest.parent.is_symlink():
        report.refused.append(f"{name}: {dest} is a link; not written through")
        return
    if dest.exists():
        try:
            existing = parse_timestamp((dest / TIMESTAMP).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            existing = None
        if existing is None:
            report.skipped.append(f"{name}: {dest} exists without a readable {TIMESTAMP}; not overwritten "
                                  "(remove it to collect this zip)")
            return
        if existing >= candidate.when:
            report.skipped.append(f"{name}: not newer ({_show(candidate.when)}) than the submission of "
                                  f"{student} already collected ({_show(existing)})")
            return
    new_student = not dest.parent.exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.collecting-", dir=dest.parent))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the submission from a grader running as another user
    try:
        extract(candidate.path, candidate.check, staging)
        (staging / TIMESTAMP).write_text(candidate.when.isoformat(" "), encoding="utf-8")
        _replace(staging, dest)
    except ZipRefused as exc:
        report.refused.append(str(exc))
        shutil.rmtree(staging, ignore_errors=True)
        if new_student:
            shutil.rmtree(dest.parent, ignore_errors=True)
        return
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.collected[student] = name
    if candidate.check.missing:
        report.notes.append(f"{name} ({student}): missing {', '.join(candidate.check.missing)}")
    if candidate.check.ignored:
        shown = ", ".join(candidate.check.ignored[:5]) + (" ..." if len(candidate.check.ignored) > 5 else "")
        report.notes.append(f"{name} ({student}): not unpacked (outside the hand-in layout): {shown}")


def _replace(staging: Path, dest: Path) -> None:
    """Swap the new submission in; a crash leaves the old one or the new one, never a mix."""
    old = dest.with_name(f".{dest.name}.replaced")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def _show(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def print_report(report: CollectReport, assignment: str) -> None:
    for student, name in sorted(report.collected.items()):
        print(f"collected {name} -> submitted/{student}/{assignment}")
    for line in report.notes:
        print(f"note: {line}")
    for line in report.skipped:
        print(f"skipped {line}")
    for line in report.refused:
        print(f"REFUSED {line}")
    print(f"\n{len(report.collected)} collected, {len(report.skipped)} skipped, {len(report.refused)} refused"
          + (f"; {report.ignored} non-zip file(s) ignored" if report.ignored else ""))
