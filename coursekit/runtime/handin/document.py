"""The hand-in as one HTML document: cover, every notebook, then the student's files.

One document (rather than a PDF per part, merged) lets the browser print it
in a single run; CSS page breaks start every part on a new page.  Math is
typeset by a local MathJax (the ``jupyter-server-mathjax`` package), so
printing needs no network.

Each notebook is a problem: its part starts on a new page with a strip
naming the notebook and its points (the nbgrader points of its graded cells,
written answers included) and what the visible checks gave.

What of a notebook's outputs is printed (:func:`for_print`; the notebook in
the zip keeps everything):

* stdout, displays, plots: all of it, as the student sees it;
* error outputs: the exception's traceback lines as the kernel gave them
  (ANSI colours stripped), in a bordered block;
* stderr streams: never. Student code prints to stdout; stderr is where
  libraries talk (warnings, progress-bar frames), which is noise in a PDF
  that is read or graded.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursekit.runtime.handin.run import ANSI, FAIL, NOT_RUN, PASS, NotebookRun
from coursekit.runtime.handin.spec import HandinSpec

STUB = "raise NotImplementedError"
MAX_COVER_PROBLEMS = 10
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the combined config the package ships

PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm 14mm 12mm; }
html, body { background: white; }
/* Smaller code, narrower prompts: the testers print arrays 100 characters wide, which then fit A4. */
:root { --jp-code-font-size: 10.5px; --jp-cell-prompt-width: 48px; --jp-code-line-height: 1.3; }
.jp-InputPrompt, .jp-OutputPrompt { font-size: 9px !important; }
body { margin: 0; padding: 0; }
.hi-part { break-before: page; }
.hi-part:first-child { break-before: auto; }
.hi-banner { font: 600 10pt sans-serif; color: #555; border-bottom: 1px solid #bbb;
             padding: 0 0 3px 0; margin: 0 0 10px 0; display: flex; justify-content: space-between; }
.hi-banner .bad { color: #b00020; }
.hi-banner .hi-title { color: #222; }
/* Error outputs (stderr streams are not printed, so only they carry this type): a bordered
   block, not lab's error-pink background across the page. */
.jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] {
  background: none; border: 1px solid #e0b4b4; border-left: 3px solid #b00020; padding: 2px 6px; margin: 2px 0; }
.jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre { color: #7a0016; }
.jp-Notebook { padding: 0 !important; }
.jp-OutputArea-child { break-inside: auto; }  /* lab's "avoid" leaves half-empty pages before long outputs */
.jp-InputArea, .jp-RenderedImage, .MathJax_Display, tr { break-inside: avoid; }
h1, h2, h3, h4 { break-after: avoid; }
.jp-OutputArea-output pre, .jp-RenderedText pre { white-space: pre-wrap; word-break: break-all; }
.jp-RenderedImage img { max-width: 100%; height: auto; }
.hi-cover { font-family: sans-serif; font-size: 11pt; color: #222; }
.hi-cover h1 { font-size: 24pt; margin: 12mm 0 2mm 0; }
.hi-cover .sub { font-size: 13pt; color: #555; margin: 0 0 8mm 0; }
.hi-cover th { white-space: nowrap; }
.hi-cover table { border-collapse: collapse; margin: 0 0 6mm 0; }
.hi-cover th, .hi-cover td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }
.hi-cover table.summary td, .hi-cover table.summary th { border-bottom: 1px solid #ddd; padding-right: 18px; }
.hi-cover tr.total td { font-weight: 600; border-bottom: none; }
.hi-cover .pass { color: #1b7a1b; }
.hi-cover .fail, .hi-cover .warn { color: #b00020; }
.hi-cover .note { color: #555; font-size: 9.5pt; }
.hi-cover ul { margin-top: 2px; padding-left: 18px; }
.hi-failed { font-family: sans-serif; }
.hi-failed pre { white-space: pre-wrap; background: #fff3f3; border: 1px solid #e0b4b4; padding: 8px; }
.hi-source h2 { font: 600 13pt monospace; margin: 0 0 6px 0; }
.hi-source .hi-note { font: 9.5pt sans-serif; color: #b00020; margin: 0 0 6px 0; }
.hi-source pre { font-size: 8.5pt; line-height: 1.35; white-space: pre-wrap; word-break: break-all; margin: 0; }
.hi-source .linenos, .hi-source .linenodiv, .hi-source span.linenos { color: #999; padding-right: 8px; }
.hi-appendix-title { font: 600 20pt sans-serif; margin: 40mm 0 4mm 0; }
"""

# Removed by MathJax once every equation is typeset: if it is printed, the math is not.
MATH_PENDING = ('<p id="hi-math-pending" class="tex2jax_ignore" style="color:#b00020;font:10pt sans-serif">'
                "Equations were still being typeset when this PDF was printed; "
                "run handin.py again.</p>")


@dataclass
class Part:
    """One section of the document: its HTML and, if it could not be made, why."""
    title: str
    body: str
    problem: str = ""


@dataclass
class NotebookHTML:
    """Notebook conversion that keeps the lab template's CSS once for the whole document."""
    styles: str = ""
    body_tag: str = '<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">'
    _exporter: Any = field(default=None, repr=False)

    def convert(self, run: NotebookRun) -> Part:
        title = f"{run.name}.ipynb"
        if run.notebook is None:
            return failed_part(title, run.problem or "the notebook could not be read")
        try:
            page = self._export(for_print(run.notebook))
            main = re.search(r"<main>(.*)</main>", page, re.S)
            if not main:
                raise ValueError("nbconvert's page has no <main> element")
            if not self.styles:
                self.styles = "\n".join(re.findall(r"<style[^>]*>.*?</style>", page, re.S))
                body = re.search(r"<body[^>]*>", page)
                self.body_tag = body.group(0) if body else self.body_tag
        except Exception as exc:  # noqa: BLE001 - one notebook that will not convert must not lose the others
            return failed_part(title, f"it could not be converted to HTML: {type(exc).__name__}: {exc}")
        return Part(title, banner(run) + main.group(1))

    def _export(self, nb: Any) -> str:
        if self._exporter is None:
            from nbconvert import HTMLExporter

            # The head (CDN scripts) is dropped; only the body and the CSS are used.
            self._exporter = HTMLExporter(template_name="lab", exclude_input=False, embed_images=True,
                                          anchor_link_text="")
        page, _ = self._exporter.from_notebook_node(nb)
        return page


def for_print(nb: Any) -> Any:
    """A copy of an executed notebook with what the PDF shows: no stderr streams, error tracebacks
    without ANSI colours (an error without traceback lines shows its type and message)."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            if out.get("output_type") == "error":
                lines = [ANSI.sub("", line) for line in out.get("traceback") or []]
                out["traceback"] = lines or [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
            kept.append(out)
        cell.outputs = kept
    return nb


def notebook_points(nb: Any) -> float:
    """What a notebook is worth: the nbgrader points of its graded cells, written answers included."""
    return sum(float(meta.get("points", 0) or 0) for meta in
               (cell.get("metadata", {}).get("nbgrader", {}) for cell in nb.cells) if meta.get("grade"))


def heading(run: NotebookRun) -> str:
    """A notebook's title line: "LinearTester.ipynb — 7 points" ("— not graded" if it has no points)."""
    worth = notebook_points(run.notebook) if run.notebook is not None else run.total
    return f"{run.name}.ipynb — " + (f"{_pts(worth)} point{'' if worth == 1 else 's'}" if worth else "not graded")


def banner(run: NotebookRun) -> str:
    """The strip at the top of a notebook's first page: the notebook and its points, and its result."""
    by_hand = (notebook_points(run.notebook) if run.notebook is not None else run.total) - run.total
    if run.problem:
        right = f'<span class="bad">{html.escape(run.problem)}</span>'
    elif run.graded:
        cls = "" if run.points == run.total else ' class="bad"'
        right = f"<span{cls}>{_pts(run.points)} / {_pts(run.total)} points by the visible checks</span>"
    elif by_hand:
        right = "<span>no visible checks</span>"
    else:
        right = "<span>no graded checks</span>"
    if by_hand > 0 and not run.problem:
        right += f" <span>· {_pts(by_hand)} graded by hand</span>"
    if run.errors and not run.problem:
        right += f' <span class="bad">· {len(run.errors)} cell(s) raised an error</span>'
    return (f'<div class="hi-banner tex2jax_ignore"><span class="hi-title">{html.escape(heading(run))}</span>'
            f"{right}</div>")


def failed_part(title: str, reason: str) -> Part:
    body = (f'<div class="hi-failed tex2jax_ignore"><h1>{html.escape(title)}</h1>'
            f"<p>This part of the hand-in could not be rendered:</p><pre>{html.escape(reason)}</pre>"
            "<p>The zip still carries the file; fix the problem and run <code>python handin.py</code> again "
            "to get it into the PDF.</p></div>")
    return Part(title, body, reason)


# --- cover ------------------------------------------------------------------------------


def cover(spec: HandinSpec, name: str, student_id: str, runs: list[NotebookRun],
          files: dict[str, str], when: dt.datetime) -> Part:
    e = html.escape
    rows, passed, count, points, total = [], 0, 0, 0.0, 0.0
    for run in runs:
        ok = sum(c.status == PASS for c in run.graded)
        passed, count, points, total = passed + ok, count + len(run.graded), points + run.points, total + run.total
        if run.problem:
            checks = f'<span class="fail">{e(run.problem)}</span>'
        elif run.graded:
            status = "pass" if ok == len(run.graded) else "fail"
            checks = f'<span class="{status}">{ok} of {len(run.graded)} pass</span>'
        else:
            checks = '<span class="note">not graded</span>'
        if run.errors and not run.problem:
            checks += f' <span class="warn">· {len(run.errors)} error(s)</span>'
        pts = f"{_pts(run.points)} / {_pts(run.total)}" if run.graded else "–"
        rows.append(f"<tr><td>{e(run.name)}</td><td>{checks}</td><td>{pts}</td><td>{run.seconds:.1f} s</td></tr>")
    rows.append(f'<tr class="total"><td>Total</td><td>{passed} of {count} pass</td>'
                f"<td>{_pts(points)} / {_pts(total)}</td><td></td></tr>")
    problems = [f"{e(run.name)}: {e(c.grade_id)} {'did not run' if c.status == NOT_RUN else 'failed'}"
                f"{': ' + e(c.message) if c.status == FAIL else ''}"
                for run in runs for c in run.graded if c.status != PASS]
    problems += [f"{e(run.name)}: {e(err)}" for run in runs for err in run.errors]
    problems += [f"{e(run.name)}: graded cell {e(g)} was edited (the grader uses the original)"
                 for run in runs for g in run.edited]
    if len(problems) > MAX_COVER_PROBLEMS:  # the cover stays one page; the notebooks show every error
        more = len(problems) - MAX_COVER_PROBLEMS + 1
        problems = problems[:MAX_COVER_PROBLEMS - 1] + [f"… and {more} more: see the notebooks"]
    problem_html = ("<h2>Needs attention</h2><ul>" + "".join(f'<li class="warn">{p}</li>' for p in problems)
                    + "</ul>") if problems else ""
    file_items = []
    for rel, text in files.items():
        stubs = text.count(STUB)
        state = (f' <span class="warn">— still has {stubs} <code>NotImplementedError</code> stub(s)</span>'
                 if stubs else "")
        file_items.append(f"<li><code>{e(rel)}</code> ({len(text.splitlines())} lines){state}</li>")
    title = f"{spec.name}" + (f" — {spec.title}" if spec.title else "")
    # An assignment answered in its notebooks alone has no files: no heading over nothing.
    files_html = f'<h2>Files (appendix)</h2>\n<ul>{"".join(file_items)}</ul>' if file_items else ""
    body = f"""<div class="hi-cover tex2jax_ignore">
<h1>{e(title)}</h1>
<p class="sub">Hand-in</p>
<table class="who">
<tr><th>Name</th><td>{e(name)}</td></tr>
<tr><th>Student id</th><td>{e(student_id)}</td></tr>
<tr><th>Run on</th><td>{e(when.strftime("%Y-%m-%d %H:%M %Z").strip())}</td></tr>
</table>
<h2>Tester notebooks</h2>
<table class="summary">
<tr><th>Notebook</th><th>Graded checks</th><th>Points</th><th>Ran in</th></tr>
{"".join(rows)}
</table>
<p class="note">Points are what the visible checks in the notebooks say. The grader runs the same
checks on new inputs, so the final score can be lower.</p>
{problem_html}
{files_html}
</div>"""
    return Part("Cover", body)


def _pts(value: float) -> str:
    return f"{value:g}"


# --- appendix ---------------------------------------------------------------------------


def source_parts(files: dict[str, str]) -> tuple[list[Part], str]:
    """One part per file, syntax-highlighted, and the highlighting CSS."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(linenos="inline", cssclass="hi-code", style="default")
    parts = []
    for index, (rel, text) in enumerate(files.items()):
        heading = '<div class="hi-appendix-title">Appendix: your files</div>' if index == 0 else ""
        stubs = text.count(STUB)
        note = (f'<p class="hi-note">Not finished: {stubs} <code>NotImplementedError</code> stub(s) left.</p>'
                if stubs else "")
        code = highlight(text, PythonLexer(), formatter) if text else "<pre>(empty file)</pre>"
        parts.append(Part(rel, f'{heading}<div class="hi-source tex2jax_ignore"><h2>{html.escape(rel)}</h2>'
                               f"{note}{code}</div>"))
    return parts, formatter.get_style_defs(".hi-code")


def read_sources(folder: Path, spec: HandinSpec) -> dict[str, str]:
    """The student files as text (a missing or unreadable file says so instead)."""
    files = {}
    for rel in spec.student_files:
        path = folder / rel
        try:
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            files[rel] = f"# could not read {rel}: {exc.strerror or exc}\n"
    return files


# --- the document -----------------------------------------------------------------------


def mathjax_script(mathjax: Path | None) -> str:
    if mathjax is None:
        return ""
    # Same delimiters as Jupyter; pre/code (outputs, source listings) are never typeset.
    config = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [['$','$'], ['\\\\(','\\\\)']], displayMath: [['$$','$$'], ['\\\\[','\\\\]']],
            processEscapes: true, processEnvironments: true},
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  displayAlign: 'center', messageStyle: 'none', showMathMenu: false, showProcessingMessages: false,
  // Typeset once, in big chunks, with no pauses: nobody watches this page, it is printed.
  menuSettings: {CHTMLpreview: false, assistiveMML: false},
  "fast-preview": {disabled: true},
  // Only the web fonts the package ships: a local font of a similar name renders badly.
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               EqnChunk: 1000, EqnChunkFactor: 1, EqnChunkDelay: 0}
});
MathJax.Hub.Queue(function () {
  var pending = document.getElementById("hi-math-pending");
  if (pending) pending.parentNode.removeChild(pending);
  window.handinTypeset(true);
});
</script>"""
    # handinReady tells the printer when to print (see browser.py); it settles on
    # load if MathJax did not start at all, so a broken MathJax never blocks printing.
    ready = """<script>
window.handinReady = new Promise(function (resolve) {
  window.handinTypeset = resolve;
  window.addEventListener("load", function () { if (!window.MathJax || !MathJax.Hub) resolve(false); });
});
</script>"""
    return f'{ready}\n{config}\n<script src="{mathjax.as_uri()}?config={MATHJAX_CONFIG}"></script>'


def assemble(title: str, parts: list[Part], styles: str, body_tag: str, mathjax: Path | None) -> str:
    sections = "\n".join(f'<section class="hi-part">{p.body}</section>' for p in parts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{styles}
<style>{PRINT_CSS}</style>
{mathjax_script(mathjax)}
</head>
{body_tag}
{MATH_PENDING if mathjax else ""}
{sections}
</body></html>
"""


def find_mathjax() -> Path | None:
    """MathJax.js from the jupyter-server-mathjax package, if it is installed."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    path = Path(jupyter_server_mathjax.__file__).parent / "static" / "MathJax.js"
    return path if path.is_file() else None
