"""Turn a reference library file into the student's starting file.

Every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region (markers
included) becomes ``# YOUR CODE HERE`` plus a ``raise NotImplementedError``
at the BEGIN marker's indentation; every other byte is kept, so docstrings,
signatures and given code reach students exactly as written.
"""
from __future__ import annotations

import ast
import re

from coursekit.source.markers import SOLUTION, Region, find_regions


class StubError(ValueError):
    """The reference file cannot be stubbed safely (bad markers, or the stub would not compile)."""


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
