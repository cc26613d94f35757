"""Finding ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (and hidden-test) regions, and the
assignment-scoped ``### BEGIN FROM <a>`` / ``### BEGIN UNTIL <a>`` regions of the library.

nbgrader treats any line that *contains* a delimiter as a marker, so this
does too: a line that nbgrader would act on but that is not the plain
``### BEGIN ...`` form is reported rather than silently skipped.  The scoped
regions are the kit's own (nbgrader never sees them), read the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Sequence


@dataclass(frozen=True)
class Kind:
    begin: str
    end: str

    def is_canonical(self, line: str, delimiter: str) -> bool:
        return re.fullmatch(rf"\s*#+ {re.escape(delimiter)}\s*", line) is not None


SOLUTION = Kind("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TESTS = Kind("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@dataclass(frozen=True)
class Region:
    """0-based line indices of the two marker lines (both excluded from the body)."""

    begin: int
    end: int

    def body(self, lines: Sequence[str]) -> Sequence[str]:
        return lines[self.begin + 1 : self.end]


@dataclass(frozen=True)
class MarkerError:
    line: int  # 1-based, as editors show it
    message: str


def find_regions(lines: Sequence[str], kind: Kind) -> tuple[list[Region], list[MarkerError]]:
    """Pair the markers of ``kind`` in ``lines``; report everything nbgrader would trip on."""
    regions: list[Region] = []
    errors: list[MarkerError] = []
    open_at: int | None = None
    for i, line in enumerate(lines):
        delimiter = kind.begin if kind.begin in line else kind.end if kind.end in line else None
        if delimiter is None:
            continue
        if not kind.is_canonical(line, delimiter):
            errors.append(MarkerError(i + 1, f"'{delimiter}' must stand alone on its line as '### {delimiter}'"))
        if delimiter == kind.begin:
            if open_at is not None:
                errors.append(MarkerError(i + 1, f"nested '{kind.begin}' "
                                                 f"(region opened on line {open_at + 1} is still open)"))
                continue  # keep pairing against the outer BEGIN, as nbgrader would fail anyway
            open_at = i
        elif open_at is None:
            errors.append(MarkerError(i + 1, f"'{kind.end}' without a matching '{kind.begin}'"))
        else:
            regions.append(Region(open_at, i))
            open_at = None
    if open_at is not None:
        errors.append(MarkerError(open_at + 1, f"'{kind.begin}' without a matching '{kind.end}'"))
    return regions, errors



# --- assignment-scoped regions ------------------------------------------------------------
#
# One reference library serves the whole course, and a later assignment may change what an
# earlier one released (a later assignment's ``backward(self, grad=None)`` where an earlier
# one had ``backward(self)``).  A reference file says so inline, in regions named after assignments:
#
#     ### BEGIN UNTIL a1           kept in the releases of a1 and of every assignment before it
#     ...
#     ### END UNTIL
#     ### BEGIN FROM a2            kept in the releases of a2 and of every assignment after it
#     ...
#     ### END FROM
#
# "Before" and "after" are the course's order of assignments: as its course.toml lists them
# ([course] assignments = [...], the teaching order); a course without that file orders the
# assignments it declares (source/<name>/assignment.toml) by name, digits compared as numbers.
# A release drops the marker lines and every region out of its scope (with the blank lines
# that would double up where it stood); the reference itself stays importable Python with
# both variants, the later definition winning at import.  Scoped regions do not nest in each
# other; solution regions go inside them (or around them), never across their edges.  The
# ``### END`` line may repeat the assignment's name.

SCOPES = ("FROM", "UNTIL")
_SCOPE_MENTION = re.compile(r"\b(BEGIN|END) (FROM|UNTIL)\b")
_SCOPE_BEGIN = re.compile(r"\s*#+ BEGIN (FROM|UNTIL) ([A-Za-z][A-Za-z0-9_-]*)\s*")
_SCOPE_END = re.compile(r"\s*#+ END (FROM|UNTIL)(?: ([A-Za-z][A-Za-z0-9_-]*))?\s*")


@dataclass(frozen=True)
class Scope:
    """A FROM or UNTIL region: 0-based indices of its two marker lines."""

    begin: int
    end: int
    kind: str  # "FROM" or "UNTIL"
    assignment: str

    def keeps(self, assignment: str, order: Sequence[str]) -> bool:
        """Whether the release of ``assignment`` keeps this region's body."""
        here, edge = order.index(assignment), order.index(self.assignment)
        return here >= edge if self.kind == "FROM" else here <= edge


def natural_key(name: str) -> tuple:
    """a2 before a10: digit runs compare as numbers (then the name itself breaks ties)."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def course_order(course_dir, *also: str) -> list[str]:
    """The course's assignments in order, those it declares and ``also``: as its ``course.toml``
    lists them (the unlisted after them), or without that file in natural order."""
    from coursekit.assignment import course_order_listed, declared_names

    names = set(also) | (set(declared_names(course_dir)) if course_dir is not None else set())
    listed = course_order_listed(course_dir) if course_dir is not None else None
    first = [n for n in listed or () if n in names]
    return first + sorted(names - set(first), key=natural_key)


def find_scopes(lines: Sequence[str]) -> tuple[list[Scope], list[MarkerError]]:
    """Pair the FROM/UNTIL markers of ``lines``; report every marker that is malformed or unpaired."""
    scopes: list[Scope] = []
    errors: list[MarkerError] = []
    open_at: tuple[int, str, str] | None = None  # (index, kind, assignment)
    for i, line in enumerate(lines):
        mention = _SCOPE_MENTION.search(line)
        if mention is None:
            continue
        word, kind = mention.groups()
        if word == "BEGIN":
            match = _SCOPE_BEGIN.fullmatch(line)
            if match is None or match.group(1) != kind:
                errors.append(MarkerError(i + 1, f"'BEGIN {kind}' must stand alone on its line as "
                                                 f"'### BEGIN {kind} <assignment>'"))
                continue
            if open_at is not None:
                errors.append(MarkerError(i + 1, f"'BEGIN {kind}' inside the 'BEGIN {open_at[1]}' region opened on "
                                                 f"line {open_at[0] + 1} (scoped regions do not nest)"))
                continue
            open_at = (i, kind, match.group(2))
            continue
        match = _SCOPE_END.fullmatch(line)
        if match is None or match.group(1) != kind:
            errors.append(MarkerError(i + 1, f"'END {kind}' must stand alone on its line as '### END {kind}'"))
            continue
        if open_at is None:
            errors.append(MarkerError(i + 1, f"'END {kind}' without a matching 'BEGIN {kind}'"))
            continue
        begin, open_kind, name = open_at
        if open_kind != kind:
            errors.append(MarkerError(i + 1, f"'END {kind}' closes the 'BEGIN {open_kind}' region opened on "
                                             f"line {begin + 1}"))
        elif match.group(2) and match.group(2) != name:
            errors.append(MarkerError(i + 1, f"'END {kind} {match.group(2)}' closes 'BEGIN {kind} {name}' "
                                             f"(line {begin + 1})"))
        scopes.append(Scope(begin, i, open_kind, name))
        open_at = None
    if open_at is not None:
        errors.append(MarkerError(open_at[0] + 1, f"'BEGIN {open_at[1]}' without a matching 'END {open_at[1]}'"))
    return scopes, errors


def scope_errors(lines: Sequence[str], order: Sequence[str]) -> list[MarkerError]:
    """Everything wrong with the scoped regions of ``lines`` in a course whose assignments are ``order``:
    malformed or unpaired markers, unknown assignments, solution regions across a region's edge."""
    scopes, errors = find_scopes(lines)
    for scope in scopes:
        if scope.assignment not in order:
            known = ", ".join(order) if order else "none"
            errors.append(MarkerError(scope.begin + 1, f"'BEGIN {scope.kind} {scope.assignment}' names no assignment "
                                                       f"of the course (it has: {known})"))
    solutions, _ = find_regions(lines, SOLUTION)
    for region in solutions:
        for scope in scopes:
            inside = scope.begin < region.begin and region.end < scope.end
            around = region.begin < scope.begin and scope.end < region.end
            apart = region.end < scope.begin or scope.end < region.begin
            if not (inside or around or apart):
                errors.append(MarkerError(region.begin + 1, (
                    f"solution region (lines {region.begin + 1}-{region.end + 1}) crosses the edge of the "
                    f"'BEGIN {scope.kind} {scope.assignment}' region (lines {scope.begin + 1}-{scope.end + 1})")))
    return sorted(errors, key=lambda e: e.line)
