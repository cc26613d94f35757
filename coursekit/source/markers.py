"""Finding ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (and hidden-test) regions.

nbgrader treats any line that *contains* a delimiter as a marker, so this
does too: a line that nbgrader would act on but that is not the plain
``### BEGIN ...`` form is reported rather than silently skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence


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
                errors.append(MarkerError(i + 1, f"nested '{kind.begin}' (region opened on line {open_at + 1} is still open)"))
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

