"""nbgrader's ``timestamp.txt``: the hand-in time, read and written as nbgrader does.

``course collect`` writes it from a zip's arrival; through nbgrader's exchange
the student's own ``nbgrader submit`` writes it, so reading it never raises
and never trusts it further than a time (the grader, the feedback pages and
the formgrader's listings all read it here).  Standard library and dateutil only.
"""
from __future__ import annotations

import datetime as dt
import re

TIMESTAMP = "timestamp.txt"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format, always in UTC
UTC = dt.timezone.utc
MAX_TIMESTAMP = 1000  # characters of a timestamp.txt worth parsing (nbgrader's are 30)
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")  # an IANA zone name; never a path


def parse_timestamp(value: object) -> dt.datetime | None:
    """A ``timestamp.txt`` as nbgrader reads it (``nbgrader.utils.parse_utc``), as an aware UTC datetime,
    or None for anything else; never raises (through nbgrader's exchange the student writes it).

    nbgrader's "2025-01-10 12:00:00.000000 UTC" (or another zone name or
    offset as the third part), ISO 8601; no zone means UTC.  A zone must be a
    known time-zone name (``Europe/Berlin``; never a path: dateutil would open
    any file it names) or an offset within a day; a time that cannot be in UTC's
    calendar (year 1 in Tokyo) is unreadable too."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TIMESTAMP:
        return None
    import warnings

    import dateutil.parser
    import dateutil.tz

    text = value.strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dateutil warns of (and may raise) odd zone keys
            parts = text.split(" ")
            if len(parts) == 3:
                try:
                    zone: object = int(parts[2])
                except ValueError:
                    if not _ZONE.fullmatch(parts[2]):
                        return None
                    zone = dateutil.tz.gettz(parts[2])
                    if zone is None:
                        return None  # an unknown zone: nbgrader would take UTC, hours off
                when = dateutil.parser.parse(" ".join(parts[:2] + ["TZ"]), tzinfos={"TZ": zone})
            else:
                when = dateutil.parser.parse(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC)
    except Exception:  # noqa: BLE001 - dateutil's errors on hostile text vary by version; all mean unreadable
        return None


def format_timestamp(when: dt.datetime) -> str:
    """nbgrader's timestamp format, in UTC: ``2025-01-10 12:00:00.000000 UTC``."""
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
