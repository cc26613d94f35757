"""`course collect <assignment> FOLDER`: import hand-in zips into ``submitted/<student>/<assignment>/``.

Like nbgrader's ``zip_collect``, for the zips ``python handin.py`` writes and a
course site (LMS) hands back in a bulk download.  Who and when come only from
what the instructor controls, never from inside a zip:

* **who**: the zip's file name, as the course site names it, read with a
  regular expression with a ``(?P<student_id>...)`` group (nbgrader's
  ``FileNameCollectorPlugin.named_regexp`` convention, matched at the start of
  the name).  The default, :data:`DEFAULT_PATTERN`, takes ``<student>.zip`` and
  ``<student>_<anything>.zip`` (student ids must then not contain ``_``).  A
  zip still named ``hw1_handin.zip`` says nobody and is refused.  With a
  roster, ids not on it are refused.  A zip whose ``handin.json`` names
  another student than its file name is refused (not collected under either);
  so is one whose id differs only by case from another's (``Dana``/``dana``:
  one folder on macOS and Windows).
* **when**: the zip's arrival: a ``(?P<timestamp>...)`` group of the name if
  the pattern has one (read with ``timestamp_format``, else as nbgrader reads
  timestamps; a time without a zone is in ``timezone``), else the zip's file
  modification time.  Neither ``handin.json``'s time nor the dates of the
  zip's members count.  It is written to nbgrader's ``timestamp.txt`` in
  nbgrader's format (``2025-01-10 12:00:00.000000 UTC``), which nbgrader's
  late penalty reads.

A student's newer zip replaces the older submission, in one run or across
runs; an older one never replaces a newer.  Every zip is inspected before
anything is unpacked (the same check the student's handin.py ran): absolute
paths, ``..``, links, oversized or too many members, members that would be
one file on some file system (a file and a folder of one name; names that
differ only by case, Unicode normalisation or ``./``), names with control
characters, and files that are not zips are refused with a one-line reason,
and the others go on.  Whatever of a zip's name or members is printed has
its control characters escaped.  Only the
notebooks and the library's ``.py`` files are unpacked, into a staging
folder that then replaces the old submission in one step.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Collection

from coursekit.assignment import Assignment
from coursekit.safefs import printable
from coursekit.course import Course, CourseError
from coursekit.runtime.handin.bundle import ZipCheck, ZipRefused, extract, inspect_zip
from coursekit.runtime.handin.spec import STUDENT_ID, HandinSpec, spec_of
from coursekit.timestamps import TIMESTAMP, UTC, format_timestamp, parse_timestamp

DEFAULT_PATTERN = r"(?P<student_id>[^_]+)(?:_.*)?\.[Zz][Ii][Pp]$"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
LINE_LIMIT = 2000  # characters of one line of the report (names in it are shortened already)


@dataclass(frozen=True)
class Naming:
    """How the course site names the zips: who handed in, and when (nbgrader's named_regexp)."""
    pattern: str = DEFAULT_PATTERN  # re.match on the file name; needs (?P<student_id>...)
    timestamp_format: str = ""  # strptime format of (?P<timestamp>...); "" reads it as nbgrader does
    timezone: str = "UTC"  # of a timestamp in the name that carries no zone

    def compiled(self) -> re.Pattern:
        try:
            regex = re.compile(self.pattern)
        except re.error as exc:
            raise CourseError(f"file-name pattern {self.pattern!r}: {exc}") from None
        if "student_id" not in regex.groupindex:
            raise CourseError(f"file-name pattern {self.pattern!r} has no (?P<student_id>...) group")
        if self.timestamp_format and "timestamp" not in regex.groupindex:
            raise CourseError(f"a timestamp format needs a (?P<timestamp>...) group in the file-name pattern "
                              f"{self.pattern!r}")
        return regex

    def zone(self) -> dt.tzinfo:
        if self.timezone.upper() in ("UTC", "Z", ""):
            return UTC
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CourseError(f"unknown time zone {self.timezone!r} (use a name like Europe/Berlin)") from None


@dataclass
class CollectReport:
    collected: dict[str, str] = field(default_factory=dict)  # student -> zip file name
    times: dict[str, dt.datetime] = field(default_factory=dict)  # student -> hand-in time recorded
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
    source: str  # where the time came from: "file time" or "time in its name"


def read_roster(path: Path) -> frozenset[str]:
    """Student ids from a text file (one a line) or a CSV (a ``student_id``/``id``/``username``
    column if its first row names one, else the first column); ``#`` lines are comments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(f"roster {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    rows = [row for row in csv.reader(line for line in text.splitlines()
                                      if line.strip() and not line.lstrip().startswith("#"))]
    column = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        for name in ("student_id", "id", "username", "login"):
            if name in header:
                column, rows = header.index(name), rows[1:]
                break
    ids = frozenset(row[column].strip() for row in rows if len(row) > column and row[column].strip())
    if not ids:
        raise CourseError(f"roster {path}: holds no student ids")
    return ids


def collect(assignment: Assignment, course: Course, folder: Path, naming: Naming | None = None,
            roster: Collection[str] | None = None) -> CollectReport:
    """Import every ``*.zip`` in ``folder`` (not its subfolders) for ``assignment``.

    ``roster``: the student ids allowed (None: any id the file names give)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder}: no such folder of hand-in zips")
    naming = naming or Naming()
    regex, zone = naming.compiled(), naming.zone()
    spec = spec_of(assignment)
    report = CollectReport()
    newest: dict[str, _Candidate] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() != ".zip":
            report.ignored += 1
            continue
        try:
            candidate = _inspect(path, spec, regex, naming, zone, roster, report)
        except OSError as exc:  # e.g. the zip vanished meanwhile: this zip's problem, not the collect's
            report.refused.append(f"{printable(path.name)}: cannot be read ({exc.strerror or exc})")
            continue
        if candidate is None:
            continue
        other = newest.get(candidate.student)
        if other is None or candidate.when >= other.when:  # a tie goes to the name sorted last
            if other is not None:
                report.skipped.append(f"{printable(other.path.name)}: superseded by {printable(path.name)} of "
                                      f"{candidate.student}, {_relation(candidate.when, other.when)}")
            newest[candidate.student] = candidate
        else:
            report.skipped.append(f"{printable(path.name)}: superseded by {printable(other.path.name)} of "
                                  f"{other.student}, {_relation(other.when, candidate.when)}")
    _refuse_case_twins(newest, course, report)
    now = dt.datetime.now(UTC)
    for _, candidate in sorted(newest.items()):
        if candidate.when > now + dt.timedelta(minutes=5):
            report.notes.append(f"{printable(candidate.path.name)}: its {candidate.source}, {_show(candidate.when)}, "
                                "is in the future (a wrong clock or time zone?)")
        _import(candidate, spec, course, report, now)
    return report


def _refuse_case_twins(newest: dict[str, _Candidate], course: Course, report: CollectReport) -> None:
    """Drop the zips whose student id differs only by case from another's (in this folder, or a folder
    already in submitted/): on a case-insensitive disk (macOS, Windows) both would be one folder, and
    one student's work would be graded as the other's.  Neither of a pair in this folder is collected."""
    base = course.stage("submitted")
    known = [p.name for p in base.iterdir()] if base.is_dir() and not base.is_symlink() else []
    alike: dict[str, set[str]] = {}
    for student in (*newest, *known):
        alike.setdefault(student.casefold(), set()).add(student)
    refused = []
    for student in sorted(newest):
        twins = sorted(alike[student.casefold()] - {student})
        if twins:
            where = ", ".join(f"submitted/{printable(t)}" if t not in newest else printable(newest[t].path.name)
                              for t in twins)
            report.refused.append(f"{printable(newest[student].path.name)}: its student id {student} differs only "
                                  f"by case from {where} (one folder on macOS and Windows); rename the zip if "
                                  "they are one student")
            refused.append(student)
    for student in refused:
        del newest[student]


def _relation(newer: dt.datetime, older: dt.datetime) -> str:
    return "handed in later" if newer > older else "handed in at the same time (the name sorted last wins)"


def _inspect(path: Path, spec: HandinSpec, regex: re.Pattern, naming: Naming, zone: dt.tzinfo,
             roster: Collection[str] | None, report: CollectReport) -> _Candidate | None:
    name = printable(path.name)  # as every message shows it
    match = regex.match(path.name)
    student = (match.group("student_id") or "") if match else ""
    if not student or student.lower() == spec.name.lower():
        if name.lower().startswith(f"{spec.name}_handin".lower()):
            why = (f"its name holds no student id (it is the name handin.py gives); rename it "
                   f"<student>_{spec.zip_name}, as the course site's bulk download names it")
        else:
            why = (f"its name gives no student id; name it <student>.zip or <student>_{spec.zip_name}"
                   + ("" if naming.pattern == DEFAULT_PATTERN else f" (file-name pattern {naming.pattern!r})"))
        report.refused.append(f"{name}: {why}")
        return None
    if not STUDENT_ID.match(student):
        report.refused.append(f"{name}: {student!r} from its name is not a usable student id "
                              "(letters, digits and . _ @ - only)")
        return None
    if roster is not None and student not in roster:
        report.refused.append(f"{name}: {student} is not on the roster")
        return None
    when, source = _arrival(path, match, naming, zone)
    if when is None:
        report.refused.append(f"{name}: cannot read the time {source!r} in its name"
                              + (f" with the format {naming.timestamp_format!r}" if naming.timestamp_format
                                 else "; give its format (--timestamp-format)"))
        return None
    check = inspect_zip(path, spec)
    if check.refusal:
        report.refused.append(check.refusal)
        return None
    recorded = check.meta.get("assignment")
    if isinstance(recorded, str) and recorded != spec.name:
        report.refused.append(f"{name}: is a hand-in for {printable(recorded, 64)}, not {spec.name}")
        return None
    claimed = check.meta.get("id")
    if claimed not in (None, "") and str(claimed).strip().casefold() != student.casefold():
        shown = str(claimed)[:64]  # !r below escapes control characters
        report.refused.append(f"{name}: its name says {student}, but its handin.json names {shown!r}; "
                              "collected for neither (ask who handed it in)")
        return None
    return _Candidate(path, check, student, when, source)


def _arrival(path: Path, match: re.Match, naming: Naming,
             zone: dt.tzinfo) -> tuple[dt.datetime | None, str]:
    """(hand-in time, where from): the name's timestamp group, else the file's modification time.

    On a name's time that cannot be read: (None, the text)."""
    stamp = match.groupdict().get("timestamp")
    if stamp:
        try:
            if naming.timestamp_format:
                when = dt.datetime.strptime(stamp, naming.timestamp_format)
            else:
                import dateutil.parser  # what nbgrader's parse_utc uses

                when = dateutil.parser.parse(stamp)
        except (ValueError, OverflowError):
            return None, stamp
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        return when.astimezone(UTC), "time in its name"
    return EPOCH + dt.timedelta(microseconds=path.stat().st_mtime_ns // 1000), "file time"


def _import(candidate: _Candidate, spec: HandinSpec, course: Course, report: CollectReport,
            now: dt.datetime) -> None:
    name, student = printable(candidate.path.name), candidate.student
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
        if existing > now + dt.timedelta(minutes=5):
            # No arrival is in the future: an older collect copied it from the zip's handin.json.
            report.notes.append(f"{name}: the {TIMESTAMP} of {student} already collected, {_show(existing)}, "
                                "is in the future, so no arrival time; replaced")
        elif existing >= candidate.when:
            report.skipped.append(f"{name}: not newer ({_show(candidate.when)}) than the submission of "
                                  f"{student} already collected ({_show(existing)})")
            return
    new_student = not dest.parent.exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.collecting-", dir=dest.parent))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the submission from a grader running as another user
    try:
        extract(candidate.path, candidate.check, staging)
        (staging / TIMESTAMP).write_text(format_timestamp(candidate.when), encoding="utf-8")
        _replace(staging, dest)
    except (ZipRefused, OSError) as exc:  # one zip that cannot be unpacked never stops the collect
        why = str(exc) if isinstance(exc, ZipRefused) else \
            f"{name}: cannot be unpacked ({printable(exc.strerror or str(exc))})"
        report.refused.append(why)
        shutil.rmtree(staging, ignore_errors=True)
        if new_student:
            shutil.rmtree(dest.parent, ignore_errors=True)
        return
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.collected[student] = candidate.path.name
    report.times[student] = candidate.when
    if candidate.check.missing:
        report.notes.append(f"{name} ({student}): missing {', '.join(candidate.check.missing)}")
    if candidate.check.ignored:
        shown = ", ".join(printable(n, 80) for n in candidate.check.ignored[:5]) \
            + (" ..." if len(candidate.check.ignored) > 5 else "")
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
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_report(report: CollectReport, assignment: str) -> None:
    """One line per zip; the report's lines are escaped already, and escaped again here, at the
    terminal, so that no message can carry a control sequence there."""
    def show(line: str) -> None:
        print(printable(line, LINE_LIMIT))

    for student, name in sorted(report.collected.items()):
        when = report.times.get(student)
        show(f"collected {name} -> submitted/{student}/{assignment}"
             + (f" (handed in {_show(when)})" if when else ""))
    for line in report.notes:
        show(f"note: {line}")
    for line in report.skipped:
        show(f"skipped {line}")
    for line in report.refused:
        show(f"REFUSED {line}")
    print(f"\n{len(report.collected)} collected, {len(report.skipped)} skipped, {len(report.refused)} refused"
          + (f"; {report.ignored} non-zip file(s) ignored" if report.ignored else ""))
