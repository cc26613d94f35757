"""The docs stay true: README.md is a front page, every relative link in README.md and docs/*.md
resolves (anchors included), and docs/layout.md names every tracked folder and every package and
module under coursekit/, and names no path that is gone."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from conftest import REPO

README_MAX_LINES = 250  # issue 18: a front page; the rest lives in docs/
LAYOUT = "docs/layout.md"

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# A backticked span holding one of these is a pattern or a placeholder (`source/<a>/`), not a path.
_NOT_A_PATH = set("<>*?…{}[]|$=,;:()'\" \t")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (where `# comment` is no heading and `[x](y)` no link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor, with GitHub's -1, -2 … for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def relative_links(text: str) -> list[str]:
    """Link and image targets that point into the repo (not http:, mailto: …), in order."""
    targets = []
    for line in prose_lines(text):
        for target in _LINK.findall(_CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                targets.append(target)
    return targets


def link_problems(page: Path, root: Path) -> list[str]:
    """One line per link of ``page`` whose file or heading does not exist."""
    where = page.relative_to(root).as_posix()
    problems = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            problems.append(f"{where}: link to {target!r}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            problems.append(f"{where}: link to {target!r}: {dest.name} has no heading with that anchor")
    return problems


def backticked(text: str) -> list[str]:
    return _CODE_SPAN.findall(text)


def kit_entries(root: Path) -> list[str]:
    """Every package (as `dir/`) and module (as `file.py`) under coursekit/, repo-relative."""
    entries = []
    for path in sorted((root / "coursekit").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root)
        entries.append(f"{rel.parent.as_posix()}/" if path.name == "__init__.py" else rel.as_posix())
    return entries


def tracked_files(root: Path) -> list[str]:
    """What git tracks in ``root``, or nothing if ``root`` is no git work tree."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [name for name in out.decode("utf-8", "replace").split("\0") if name]


def looks_like_repo_path(span: str, tops: set[str]) -> bool:
    """A backticked span that names something in the repo: no placeholder, starting at a tracked top-level entry."""
    return not (_NOT_A_PATH & set(span)) and span.split("/")[0] in tops


def layout_problems(root: Path, layout: str, tracked: Iterable[str]) -> list[str]:
    """What docs/layout.md (its text: ``layout``) misses, and what it names that is gone."""
    tracked = list(tracked)
    named = {span.rstrip("/") for span in backticked(layout)}
    problems = [f"{LAYOUT} names no `{entry}` ({'package' if entry.endswith('/') else 'module'} under coursekit/): "
                "add a line saying what it is for"
                for entry in kit_entries(root) if entry.rstrip("/") not in named]
    folders = sorted({name.split("/")[0] for name in tracked if "/" in name})
    problems += [f"{LAYOUT} names no `{folder}/` (a top-level folder git tracks): add a line saying what it is for"
                 for folder in folders if folder not in named]
    tops = {name.split("/")[0] for name in tracked}
    for span in dict.fromkeys(backticked(layout)):
        if looks_like_repo_path(span, tops) and not (root / span).exists():
            problems.append(f"{LAYOUT} names `{span}`, which does not exist: update or remove its line")
    return problems


# --- the repo's own docs ------------------------------------------------------------------------


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_readme_is_a_front_page():
    lines = len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move text to docs/"


def test_every_relative_link_resolves():
    problems = [problem for page in doc_pages() for problem in link_problems(page, REPO)]
    assert not problems, "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme():
    """A page nobody links to is a page nobody finds."""
    linked = {(REPO / target.partition("#")[0]).resolve()
              for target in relative_links((REPO / "README.md").read_text(encoding="utf-8"))}
    orphans = [page.name for page in sorted((REPO / "docs").glob("*.md")) if page.resolve() not in linked]
    assert not orphans, f"README.md links to none of: {', '.join(orphans)}"


def test_layout_names_every_kit_module_and_tracked_folder_and_nothing_gone():
    tracked = tracked_files(REPO)
    if not tracked:
        pytest.skip("not a git work tree: which folders are tracked is unknown")
    problems = layout_problems(REPO, (REPO / LAYOUT).read_text(encoding="utf-8"), tracked)
    assert not problems, "\n".join(problems)


# --- the checkers on a repo of their own, so that a silent checker cannot pass ------------------


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    for rel in ("coursekit/__init__.py", "coursekit/cli.py", "coursekit/steps/__init__.py",
                "coursekit/steps/run.py", "tests/test_x.py", "Makefile"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    return tmp_path


SMALL_LAYOUT = """\
- `Makefile` — the commands.
- `tests/` — the tests.
- `coursekit/` — the kit; `coursekit/cli.py` — its command line.
- `coursekit/steps/` — steps; `coursekit/steps/run.py` — one step.
- generated: `release/`, `source/<a>/mytorch/`, `*.pyc`.
"""
SMALL_TRACKED = ["Makefile", "coursekit/__init__.py", "coursekit/cli.py", "coursekit/steps/__init__.py",
                 "coursekit/steps/run.py", "tests/test_x.py"]


def test_a_complete_layout_has_no_problems(small_repo):
    assert layout_problems(small_repo, SMALL_LAYOUT, SMALL_TRACKED) == []


def test_a_module_added_without_its_line_is_named(small_repo):
    (small_repo / "coursekit/steps/new_step.py").write_text("")
    (small_repo / "coursekit/extra").mkdir()
    (small_repo / "coursekit/extra/__init__.py").write_text("")
    assert layout_problems(small_repo, SMALL_LAYOUT, SMALL_TRACKED) == [
        "docs/layout.md names no `coursekit/extra/` (package under coursekit/): add a line saying what it is for",
        "docs/layout.md names no `coursekit/steps/new_step.py` (module under coursekit/): "
        "add a line saying what it is for",
    ]


def test_a_module_removed_but_still_listed_is_named(small_repo):
    (small_repo / "coursekit/steps/run.py").unlink()
    tracked = [name for name in SMALL_TRACKED if name != "coursekit/steps/run.py"]
    assert layout_problems(small_repo, SMALL_LAYOUT, tracked) == [
        "docs/layout.md names `coursekit/steps/run.py`, which does not exist: update or remove its line"]


def test_a_tracked_folder_without_its_line_is_named(small_repo):
    assert layout_problems(small_repo, SMALL_LAYOUT, [*SMALL_TRACKED, "bench/b.py"]) == [
        "docs/layout.md names no `bench/` (a top-level folder git tracks): add a line saying what it is for"]


def test_broken_links_and_anchors_are_named(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Some `code`: here\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md) [ok](docs/a.md#some-code-here) [web](https://example.org/x)\n"
                    "[gone](docs/b.md) [bad anchor](docs/a.md#nowhere) `[not a link](nope.md)`\n"
                    "```sh\n[in code](nope.md)\n```\n")
    assert link_problems(page, tmp_path) == [
        "README.md: link to 'docs/b.md': no such file",
        "README.md: link to 'docs/a.md#nowhere': a.md has no heading with that anchor",
    ]


def test_anchors_follow_githubs_rules():
    text = "# Start: `course new`\n## A class of 1,000: pool and Dask\n## Notes\n## Notes\n```\n# not a heading\n```\n"
    assert anchors(text) == {"start-course-new", "a-class-of-1000-pool-and-dask", "notes", "notes-1"}
