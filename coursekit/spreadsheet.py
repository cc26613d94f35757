"""CSV cells that a spreadsheet shows as text and never evaluates.

Student ids and other text come from students; a cell starting like a
formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) would be run by
Excel, LibreOffice or Google Sheets when a TA opens the file
(``=HYPERLINK(...)`` sends data away, DDE runs programs).  As OWASP advises
for CSV injection, such a cell gets a leading apostrophe, which spreadsheets
themselves write for text that looks like a formula.  Every CSV the kit
writes passes its text cells through :func:`text_cell`; numbers the kit
formats itself (scores, shares) stay numbers.
"""
from __future__ import annotations

from coursekit.safefs import printable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 1000  # characters of one text cell (ids and names are far shorter)


def text_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet reads as this text: control characters escaped
    (none can start a formula then, or break a line), and a leading apostrophe if it would
    otherwise start one."""
    shown = printable(value, MAX_CELL)
    return "'" + shown if shown.startswith(FORMULA_START) else shown
