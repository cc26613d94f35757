"""Turn a reference library file into the student's starting file.

Every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region (markers
included) becomes ``# YOUR CODE HERE`` plus a ``raise NotImplementedError``
at the BEGIN marker's indentation; every other byte is kept, so docstrings,
signatures and given code reach students exactly as written.

Before that, :func:`scope_text` cuts the file down to one assignment's view:
the ``### BEGIN FROM <a>`` / ``### BEGIN UNTIL <a>`` regions it does not
reach go, with every scope marker (see :mod:`coursekit.library.markers`).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from coursekit.library.markers import SOLUTION, Region, find_regions, find_scopes, scope_errors


class StubError(ValueError):
    """The reference file cannot be stubbed safely (bad markers, or the stub would not compile)."""


def scope_text(text: str, assignment: str, order: Sequence[str], path: str) -> str:
    """``text`` as the release of ``assignment`` shows it: without the scope markers, and without
    the regions out of its scope (``order``: the course's assignments, in order).

    A file without scope markers comes back unchanged. Where a dropped region leaves two blank
    stretches meeting, the second goes, so that the view reads as if written for ``assignment``.
    """
    if "FROM" not in text and "UNTIL" not in text:
        return text  # the common case, byte for byte
    lines = text.splitlines(keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]
    errors = scope_errors(bare, order)
    if errors:
        raise StubError("\n".join(f"{path}:{e.line}: {e.message}" for e in errors))
    scopes, _ = find_scopes(bare)
    if not scopes:
        return text
    if assignment not in order:
        raise StubError(f"{path}: {assignment!r} is not one of the course's assignments ({', '.join(order)})")
    markers = {i for s in scopes for i in (s.begin, s.end)}
    dropped = {i for s in scopes if not s.keeps(assignment, order) for i in range(s.begin, s.end + 1)}
    ends = {s.end for s in scopes if not s.keeps(assignment, order)}
    out: list[str] = []
    # Right after a dropped region that followed a blank line (or the top of the file),
    # the blank lines after it would double up: they go too.
    squeeze = False
    for i, line in enumerate(lines):
        if i in ends:
            squeeze = not out or not out[-1].strip()
        if i in dropped or i in markers:
            continue
        if squeeze and not bare[i].strip():
            continue
        squeeze = False
        out.append(line)
    return "".join(out)


def stub_source(text: str, path: str) -> str:
    """Replace each solution region of ``text`` (the file at ``path``) with a stub."""
    lines = text.splitlines(keepends=True)
    regions, errors = find_regions([line.rstrip("\r\n") for line in lines], SOLUTION)
    if errors:
        raise StubError("\n".join(f"{path}:{e.line}: {e.message}" for e in errors))
    names = _enclosing_functions(text, regions)
    out: list[str] = []
    last = 0
    for region, name in zip(regions, names):
        out.extend(lines[last : region.begin])
        out.append(_stub(lines[region.begin], name))
        last = region.end + 1
    out.extend(lines[last:])
    result = "".join(out)
    _check_compiles(result, path)
    return result


def _stub(begin_line: str, function: str | None) -> str:
    indent = re.match(r"[ \t]*", begin_line).group(0)
    # Keep the file's own line ending (\n or \r\n) so the rest stays byte-identical.
    newline = begin_line[len(begin_line.rstrip("\r\n")) :] or "\n"
    what = f"{function} is not implemented yet" if function else "this part is not implemented yet"
    return f'{indent}# YOUR CODE HERE{newline}{indent}raise NotImplementedError("{what}"){newline}'


def _enclosing_functions(text: str, regions: list[Region]) -> list[str | None]:
    """Qualified name (``Layer.forward``) of the innermost def around each region, if any."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return [None] * len(regions)  # the compile check below will explain
    spans: list[tuple[int, int, str]] = []
    _collect_defs(tree, "", spans)
    names: list[str | None] = []
    for region in regions:
        line = region.begin + 1  # ast lines are 1-based
        around = [s for s in spans if s[0] <= line <= s[1]]
        names.append(max(around, key=lambda s: s[0])[2] if around else None)
    return names


def _collect_defs(node: ast.AST, prefix: str, spans: list[tuple[int, int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
            _collect_defs(child, f"{name}.", spans)
        else:
            _collect_defs(child, prefix, spans)


def _check_compiles(source: str, path: str) -> None:
    try:
        compile(source, path, "exec")
    except SyntaxError as err:
        raise StubError(f"{path}:{err.lineno}: stubbed file does not compile: {err.msg}") from err
