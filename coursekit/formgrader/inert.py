"""The formgrader's submission page shows a student's notebook inert.

nbgrader renders ``autograded/<s>/<a>/<nb>.ipynb`` (the student's own file)
with nbconvert into a page of the TA's logged-in Jupyter session, which can
reach Jupyter's API (terminals, kernels, every grade).  Three layers:

* :class:`InertNotebook`, a preprocessor, keeps only outputs that render as
  text or as an inline image (no ``application/javascript``, widget or
  unknown output; ``text/html`` allow-list sanitised; SVG shown as an
  ``<img>``, which runs no script), and metadata values the templates put into
  the page unescaped (nbgrader's grade id, the execution count) only when they
  are what nbgrader itself writes;
* :func:`markdown2html` and :func:`clean_html` replace nbconvert's filters of
  those names: rendered markdown (written answers, markdown outputs) and raw
  HTML go through :func:`coursekit.inert.clean_html`; math stays text for
  MathJax, whose ``Safe`` extension is loaded;
* the page is served with a Content-Security-Policy (:func:`submission_csp`):
  scripts only from nbgrader's and MathJax's static folders and inline ones
  with the request's nonce (the kit's copies of nbgrader's templates carry
  it), requests only to the formgrader's own API.  Files nbgrader serves from
  a submission folder get a sandboxing policy (no script at all).
"""
from __future__ import annotations

import re
import secrets

from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor

from coursekit.inert import clean_html

__all__ = ["InertNotebook", "clean_html", "configure", "markdown2html", "patch_handlers"]

# Output types shown as they are (escaped by the templates) or after sanitising.
TEXT_TYPES = ("text/plain", "text/latex")
IMAGE_TYPES = ("image/png", "image/jpeg")
ATTACHMENT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")  # an <img> runs no script
_GRADE_ID = re.compile(r"[A-Za-z0-9_\-]{1,200}")  # nbgrader's own pattern for grade ids
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_CELL_ID = re.compile(r"[a-zA-Z0-9\-_]{1,64}")  # nbformat's


def _note(dropped: list[str]) -> str:
    return f"[output not shown to graders: {', '.join(sorted(dropped))} could run script or load content]"


def inert_output(output: dict) -> dict:
    """One output with only what renders inert; a dropped type is named in a text note."""
    kind = output.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                "text": _text(output.get("text", ""))}
    if kind == "error":
        trace = output.get("traceback")
        return {"output_type": "error", "ename": _text(output.get("ename", "")),
                "evalue": _text(output.get("evalue", "")),
                "traceback": [_text(line) for line in trace] if isinstance(trace, list) else []}
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept, dropped = {}, []
    for mime, value in data.items():
        if mime in TEXT_TYPES or mime == "text/markdown":  # markdown: through markdown2html, sanitised
            kept[mime] = _text(value)
        elif mime == "text/html":
            kept[mime] = clean_html(_text(value))
        elif mime in IMAGE_TYPES and isinstance(value, str) and _BASE64.fullmatch(value):
            kept[mime] = value
        elif mime == "image/svg+xml" and isinstance(value, (str, list)):
            kept[mime] = _text(value)  # the templates embed it as <img src="data:...">: no script runs
        else:
            dropped.append(str(mime))
    if dropped and "text/plain" not in kept:
        kept["text/plain"] = _note(dropped)
    clean = {"output_type": "display_data" if kind != "execute_result" else "execute_result",
             "data": kept, "metadata": _image_metadata(output.get("metadata"), kept)}
    if kind == "execute_result":
        count = output.get("execution_count")
        clean["execution_count"] = count if _is_count(count) else None
    return clean


def _image_metadata(metadata: object, kept: dict) -> dict:
    """An image's size and alt text (the templates escape them); never file names, which would
    make the page fetch a URL the student chose, nor "isolated" (an iframe)."""
    out: dict = {}
    if not isinstance(metadata, dict):
        return out
    for mime in IMAGE_TYPES:
        given = metadata.get(mime)
        if mime in kept and isinstance(given, dict):
            out[mime] = {k: v for k, v in given.items()
                         if (k in ("width", "height") and _is_count(v)) or (k == "alt" and isinstance(v, str))}
    return out


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


class InertNotebook(Preprocessor):
    """Outputs and metadata of a student's notebook as the formgrader may render them."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # widget state: script for a widget manager
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        from nbformat import from_dict

        if "id" in cell and not (isinstance(cell["id"], str) and _CELL_ID.fullmatch(cell["id"])):
            cell["id"] = f"cell-{index}"  # the page has it in an attribute; nbformat allows only these
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        meta = cell["metadata"]
        grading = meta.get("nbgrader")
        if grading is not None and not (isinstance(grading, dict) and isinstance(grading.get("grade_id"), str)
                                        and _GRADE_ID.fullmatch(grading["grade_id"])):
            del meta["nbgrader"]  # not a cell nbgrader wrote: shown as a plain cell
        if not isinstance(meta.get("tags", []), list):
            meta["tags"] = []
        if cell.get("cell_type") == "code":
            if not _is_count(cell.get("execution_count")):
                cell["execution_count"] = None
            outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
            cell["outputs"] = [from_dict(inert_output(o)) for o in outputs if isinstance(o, dict)]
        elif cell.get("cell_type") == "raw":
            cell["source"] = clean_html(_text(cell.get("source", "")))
        if "attachments" in cell:
            cell["attachments"] = _attachments(cell["attachments"])
        return cell, resources


def _attachments(given: object) -> dict:
    """A markdown cell's pictures (inline <img> data, as clean_html allows them); nothing else."""
    out = {}
    for name, files in given.items() if isinstance(given, dict) else ():
        kept = {m: v for m, v in files.items() if m in ATTACHMENT_TYPES and isinstance(v, str)
                and _BASE64.fullmatch(v)} if isinstance(files, dict) else {}
        if kept:
            out[name] = kept
    return out


@pass_context
def markdown2html(context, source) -> str:
    """nbconvert's markdown filter (math kept for MathJax, attachments inline), sanitised; never
    embeds a file from the server's disk."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    cell = context.get("cell", {})
    attachments = _attachments(cell.get("attachments", {}) if hasattr(cell, "get") else {})
    renderer = _renderer()(escape=False, attachments=attachments, embed_images=False, path="")
    return clean_html(MarkdownWithMath(renderer=renderer).render(_text(source)))


def _renderer():
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class Renderer(IPythonRenderer):
        def _embed_image_or_attachment(self, src: str) -> str:
            # nbconvert raises for a missing attachment, and the whole page fails with it
            if src.startswith("attachment:") and src[len("attachment:"):] not in self.attachments:
                return ""
            return super()._embed_image_or_attachment(src)

    return Renderer


def configure(c) -> None:
    """The exporter settings: sanitised markdown and HTML, inert outputs (every HTML export that
    reads this configuration: the formgrader's pages and nbgrader's own feedback)."""
    c.HTMLExporter.sanitize_html = True  # nbconvert's own switch: no script or widget blocks
    c.HTMLExporter.embed_images = False
    # nbconvert checks the notebook after every preprocessor: a student's invalid cell id would stop
    # the page at the first one, before InertNotebook (last) repairs it; once, after all of them.
    c.HTMLExporter.optimistic_validation = True
    filters = dict(c.HTMLExporter.filters) if "filters" in c.HTMLExporter else {}
    c.HTMLExporter.filters = {**filters, "markdown2html": markdown2html, "clean_html": clean_html}
    preprocessors = list(c.HTMLExporter.preprocessors) if "preprocessors" in c.HTMLExporter else []
    if InertNotebook not in preprocessors:
        c.HTMLExporter.preprocessors = [*preprocessors, InertNotebook]


# -- the server's side: Content-Security-Policy -------------------------------------------

def _nonce(handler) -> str:
    # One per request: set_default_headers (the header) and the rendering (the template) share it.
    nonce = handler.__dict__.get("_coursekit_nonce")
    if nonce is None:
        nonce = handler.__dict__["_coursekit_nonce"] = secrets.token_urlsafe(18)
    return nonce


def submission_csp(handler) -> str:
    """The submission page's policy: its own scripts only, requests only to the formgrader's API."""
    # The host the browser asked for, without a scheme: a source then matches the page's own
    # scheme (https behind a TLS proxy); a path-less 'self' would also admit any script the
    # server serves, a student's .js under /files/ included.
    origin = handler.request.host
    base = handler.base_url.rstrip("/")  # "" or "/user/ta"
    static = f"{origin}{base}/formgrader/static/"
    mathjax = f"{origin}{base}/static/jupyter_server_mathjax/"
    return "; ".join([
        "default-src 'none'",
        f"script-src 'nonce-{_nonce(handler)}' {static} {mathjax}",
        f"style-src 'unsafe-inline' {static} {mathjax}",
        f"font-src data: {static} {mathjax}",
        f"img-src data: {static} {mathjax}",
        f"connect-src {origin}{base}/formgrader/api/",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ])


# A student's file nbgrader serves from the submission folder: a document of its own origin,
# with no script, that loads nothing (an HTML file a link points to cannot use the TA's session).
FILES_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"


class _NonceExporter:
    """nbgrader's exporter, with the request's nonce in the resources the templates see."""

    def __init__(self, exporter, nonce: str):
        self._exporter, self._nonce = exporter, nonce

    def from_filename(self, filename, resources=None, **kw):
        return self._exporter.from_filename(filename, resources={**(resources or {}), "csp_nonce": self._nonce},
                                            **kw)

    def __getattr__(self, name):
        return getattr(self._exporter, name)


def patch_handlers(handlers) -> None:
    """Give nbgrader's submission page and submission files their policies (once per process)."""
    if getattr(handlers.SubmissionHandler, "_coursekit_inert", False):
        return
    handlers.SubmissionHandler.content_security_policy = property(submission_csp)
    handlers.SubmissionHandler.exporter = property(
        lambda self: _NonceExporter(self.settings["nbgrader_exporter"], _nonce(self)))
    handlers.SubmissionHandler._coursekit_inert = True
    handlers.SubmissionFilesHandler.content_security_policy = property(lambda self: FILES_CSP)
