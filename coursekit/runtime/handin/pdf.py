"""Print the hand-in to one PDF: headless Chromium (default) or nbconvert's LaTeX route.

Chromium prints the single HTML document of :mod:`coursekit.runtime.handin.document`
with MathJax loaded from disk.  The LaTeX route (``--engine latex``) needs
pandoc and XeLaTeX, which students rarely have, so it is opt-in.  A missing
engine is one line saying what to install; a part that cannot be rendered
becomes a page that says so, and the others are still printed.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.runtime.handin.browser import Printer
from coursekit.runtime.handin.document import (NotebookHTML, Part, assemble, cover, find_mathjax, for_print, heading,
                                       source_parts)
from coursekit.runtime.handin.run import NotebookRun
from coursekit.runtime.handin.spec import HandinError, HandinSpec

ENGINES = ("chromium", "latex")
BROWSER_TIMEOUT = 120  # seconds; six notebooks print in ~3

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "msedge")
BROWSER_PATHS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
)
INSTALL_BROWSER = ("no Chromium found to print the PDF: install it (Debian/Ubuntu: `sudo apt install chromium`; "
                   "macOS/Windows: install Google Chrome), or pass --browser PATH")
INSTALL_LATEX = ("the latex engine needs pandoc and XeLaTeX: install them (Debian/Ubuntu: `sudo apt install pandoc "
                 "texlive-xetex texlive-fonts-recommended texlive-plain-generic`), or use --engine chromium")
INSTALL_MATHJAX = "math is shown as LaTeX source: `pip install jupyter-server-mathjax` to render it"


@dataclass
class RenderResult:
    path: Path
    print_seconds: float  # after the notebooks: assembling and printing
    convert_seconds: float  # converting notebooks as they finished (overlaps their run)
    problems: list[str] = field(default_factory=list)  # parts that could not be rendered, engine notes


class Renderer:
    """Converts notebooks as they finish running, then prints everything at once."""

    def __init__(self, folder: Path, spec: HandinSpec, engine: str = "chromium", browser: str | None = None):
        if engine not in ENGINES:
            raise HandinError(f"unknown PDF engine {engine!r}; use one of: {', '.join(ENGINES)}")
        self.folder, self.spec, self.engine = folder, spec, engine
        self.browser = check_engine(engine, browser)
        # Started now so that its start-up overlaps the notebooks' run.
        self.printer = Printer(self.browser, BROWSER_TIMEOUT).start() if self.browser else None
        self.mathjax = find_mathjax()
        self.html = NotebookHTML()
        self.parts: dict[str, Part] = {}
        self.convert_seconds = 0.0

    def add(self, run: NotebookRun) -> None:
        """Convert one executed notebook now (while others still run)."""
        if self.engine != "chromium":
            return
        start = time.monotonic()
        self.parts[run.name] = self.html.convert(run)
        self.convert_seconds += time.monotonic() - start

    def render(self, runs: list[NotebookRun], name: str, student_id: str, files: dict[str, str],
               out: Path) -> RenderResult:
        import datetime as dt

        start = time.monotonic()
        when = dt.datetime.now().astimezone()
        try:
            if self.engine == "latex":
                problems = latex_pdf(self.spec, runs, name, student_id, files, when, out)
            else:
                problems = self._chromium(runs, name, student_id, files, when, out)
        finally:
            self.close()
        return RenderResult(out, time.monotonic() - start, self.convert_seconds, problems)

    def _chromium(self, runs, name, student_id, files, when, out: Path) -> list[str]:
        for run in runs:
            if run.name not in self.parts:
                self.add(run)
        notebooks = [self.parts[run.name] for run in runs]
        sources, source_css = source_parts(files)
        parts = [cover(self.spec, name, student_id, runs, files, when), *notebooks, *sources]
        title = f"{self.spec.name} hand-in — {name} ({student_id})"
        page = assemble(title, parts, self.html.styles + f"\n<style>{source_css}</style>", self.html.body_tag,
                        self.mathjax)
        # A notebook that could not run is already reported as such.
        problems = [f"{p.title}: {p.problem}" for p, run in zip(notebooks, runs) if p.problem and not run.problem]
        if self.mathjax is None:
            problems.append(INSTALL_MATHJAX)
        with tempfile.TemporaryDirectory(prefix="handin-") as tmp:
            html_path = Path(tmp) / "handin.html"
            html_path.write_text(page, encoding="utf-8")
            assert self.printer is not None
            self.printer.print_pdf(html_path, out)
        return problems

    def close(self) -> None:
        if self.printer is not None:
            self.printer.close()


def check_engine(engine: str, browser: str | None = None) -> str:
    """The browser to print with (chromium), or "" (latex); raises HandinError saying what to install."""
    if engine == "latex":
        if not (shutil.which("pandoc") and shutil.which("xelatex")):
            raise HandinError(INSTALL_LATEX)
        return ""
    found = find_browser(browser)
    if not found:
        raise HandinError(f"--browser {browser}: not found; give the path of Chromium or Chrome"
                          if browser else INSTALL_BROWSER)
    return found


def find_browser(explicit: str | None = None) -> str | None:
    for candidate in (explicit, os.environ.get("HANDIN_BROWSER")):
        if candidate:
            return shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
    for name in BROWSER_NAMES:
        if shutil.which(name):
            return shutil.which(name)
    return next((p for p in BROWSER_PATHS if Path(p).is_file()), None)


# --- the LaTeX route --------------------------------------------------------------------


def latex_pdf(spec: HandinSpec, runs: list[NotebookRun], name: str, student_id: str, files: dict[str, str],
              when, out: Path) -> list[str]:
    """One notebook made of cover, notebooks and files, through nbconvert's PDFExporter.

    A notebook that breaks LaTeX is found by converting the parts alone, and
    replaced by a page saying so; then the whole is converted again."""
    import nbformat

    parts = {run.name: _notebook_cells(run) for run in runs}
    problems: list[str] = []
    try:
        data = _latex(spec, runs, name, student_id, files, when, parts)
    except Exception:  # noqa: BLE001 - find the culprits, then retry without them
        for run in runs:
            if run.notebook is None:
                continue
            try:
                _latex_one(nbformat.v4.new_notebook(cells=parts[run.name]))
            except Exception as exc:  # noqa: BLE001
                reason = f"LaTeX could not render it: {_latex_error(exc)}"
                problems.append(f"{run.name}.ipynb: {reason}")
                # In a code block: the reason quotes TeX, which must not be typeset again.
                parts[run.name] = [nbformat.v4.new_markdown_cell(
                    f"# {run.name}.ipynb\n\nThis notebook could not be rendered:\n\n```\n{reason}\n```\n")]
        data = _latex(spec, runs, name, student_id, files, when, parts)
    partial = out.with_name(out.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, out)
    return problems


def _latex(spec, runs, name, student_id, files, when, parts) -> bytes:
    import nbformat

    new_md, new_raw = nbformat.v4.new_markdown_cell, nbformat.v4.new_raw_cell

    def newpage():
        return new_raw("\\newpage", metadata={"raw_mimetype": "text/latex"})

    cells = [new_md(_cover_markdown(spec, name, student_id, runs, files, when))]
    for run in runs:
        cells += [newpage(), *parts[run.name]]
    for index, (rel, text) in enumerate(files.items()):
        heading = "# Appendix: your files\n\n" if index == 0 else ""
        cells += [newpage(), new_md(f"{heading}## `{rel}`\n\n```python\n{text}\n```\n")]
    cells = [nbformat.from_dict({**cell, "id": f"handin-{i}"}) for i, cell in enumerate(cells)]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "title": f"{spec.name} hand-in", "authors": [{"name": f"{name} ({student_id})"}]})
    return _latex_one(nb)


def _latex_one(nb) -> bytes:
    from nbconvert import PDFExporter

    # PDFExporter would only pass raw cells marked "application/pdf"; ours are LaTeX.
    data, _ = PDFExporter(exclude_input=False, raw_mimetypes=["text/latex", ""]).from_notebook_node(nb)
    return data


def _notebook_cells(run: NotebookRun) -> list:
    import nbformat

    if run.notebook is None:
        return [nbformat.v4.new_markdown_cell(f"# {run.name}.ipynb\n\nNot rendered: {run.problem}")]
    return [nbformat.v4.new_markdown_cell(f"*{heading(run)}*"), *for_print(run.notebook).cells]


def _cover_markdown(spec, name, student_id, runs, files, when) -> str:
    rows = "\n".join(f"| {r.name} | {sum(c.status == 'pass' for c in r.graded)} of {len(r.graded)} pass | "
                     f"{r.points:g} / {r.total:g} | {r.problem or (f'{len(r.errors)} error(s)' if r.errors else '')} |"
                     for r in runs)
    listed = "\n".join(f"- `{rel}`" for rel in files)
    title = spec.name + (f" — {spec.title}" if spec.title else "")
    appendix = f"\n\nFiles in the appendix:\n\n{listed}" if files else ""
    return (f"# {title}\n\n**Name:** {name}  \n**Student id:** {student_id}  \n"
            f"**Run on:** {when:%Y-%m-%d %H:%M}\n\n| Notebook | Graded checks | Points | Problems |\n"
            f"|---|---|---|---|\n{rows}{appendix}\n")


def _latex_error(exc: BaseException) -> str:
    """TeX's own error line ("! Undefined control sequence.") out of nbconvert's whole log."""
    lines = str(exc).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("! "):
            return " ".join(" ".join(lines[i:i + 2]).split())[:300]
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__

