"""What a student wrote is inert on every page staff open (issue 17, class 1): the sanitiser on
each common injection vector, the formgrader's rendering of a hostile notebook, the policies of
the submission page (served by a real Jupyter server), the feedback page and the similarity
report.  tests/test_inert_browser.py opens the same hand-in in chromium."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

# -- the hostile hand-in ----------------------------------------------------------------------

MARK = "__pwned"  # every payload that runs sets window.__pwned (or requests /api/ or evil.example)
ANSWER_TEXT = "ANSWER-VISIBLE: the gradient of double is constant"
VECTORS = {
    "script": f"<script>window.{MARK}='script'</script>",
    "img onerror": f"<img src=x onerror=\"window.{MARK}='img'\">",
    "svg onload": f"<svg onload=\"window.{MARK}='svg'\"><circle r=\"1\"/></svg>",
    "javascript link": f"<a href=\"javascript:window.{MARK}='link'\" id=\"jslink\">click me</a>",
    "markdown javascript link": f"[md link](javascript:window.{MARK}='mdlink')",
    "iframe srcdoc": f"<iframe srcdoc=\"<script>parent.{MARK}='iframe'</script>\"></iframe>",
    "object": f"<object data=\"data:text/html,<script>parent.{MARK}='object'</script>\"></object>",
    "embed": "<embed src=\"http://evil.example/embed\">",
    "meta refresh": "<meta http-equiv=\"refresh\" content=\"0;url=http://evil.example/refresh\">",
    "base href": "<base href=\"http://evil.example/\">",
    "style url": "<style>body { background: url(http://evil.example/style) }</style>",
    "inline style": "<p style=\"background: url(http://evil.example/inline)\">styled</p>",
    "form": "<form action=\"/api/terminals\" method=\"post\"><button id=\"formbtn\">go</button></form>",
    "api image": "<img src=\"/api/terminals\">",
    "remote image": "<img src=\"http://evil.example/img\">",
    "data link": "<a href=\"data:text/html,<script>alert(1)</script>\">data link</a>",
    "data html image": "<img src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
    "details ontoggle": f"<details open ontoggle=\"window.{MARK}='details'\">toggled</details>",
    "autofocus": f"<input autofocus onfocus=\"window.{MARK}='focus'\">",
    "fetch api": "<img src=x onerror=\"fetch('/api/terminals', {method: 'POST'})\">",
    "mathjax config": f"<script type=\"text/x-mathjax-config\">window.{MARK}='mathjaxconfig'</script>",
    "link stylesheet": "<link rel=\"stylesheet\" href=\"http://evil.example/css\">",
    "video": f"<video><source onerror=\"window.{MARK}='video'\"></video>",
    "clobbering id": "<a id=\"MathJax\" name=\"submission_id\">clobber</a>",
}
WRITTEN_ANSWER = "\n\n".join([
    f"{ANSWER_TEXT}: for every $x \\in \\mathbb{{R}}$ we have",
    "$$\\sum_{i=1}^{n} \\frac{\\partial y_i}{\\partial x_i} = 2n$$",
    *VECTORS.values(),
    f"$\\href{{javascript:window.{MARK}='mjhref'}}{{x}}$",
])
SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="window.{MARK}=\'svg-output\'" width="10" height="10">'
       f'<script>window.{MARK}=\'svg-script\'</script><image href="http://evil.example/svgimg"/></svg>')
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def hostile_outputs() -> list[dict]:
    """A code cell's outputs trying every mimetype a renderer might run."""
    html_out = (f"<b>bold output</b><script>window.{MARK}='html-output'</script>"
                f"<img src=x onerror=\"window.{MARK}='html-img'\">")
    return [
        {"output_type": "execute_result", "execution_count": 1, "metadata": {},
         "data": {"application/javascript": f"window.{MARK}='js-output'"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": html_out, "text/plain": "html"}},
        {"output_type": "display_data", "metadata": {"text/html": {"isolated": True}},
         "data": {"text/html": f"<script>parent.{MARK}='isolated'</script>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": SVG}},
        {"output_type": "display_data", "metadata": {"filenames": {"image/png": "/api/terminals"}},
         "data": {"image/png": PNG}},
        {"output_type": "display_data", "metadata": {"image/png": {"width": "1 onerror=alert(1)"}},
         "data": {"image/png": f"\" onerror=\"window.{MARK}='png'"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"text/markdown": f"<img src=x onerror=\"window.{MARK}='md-output'\"> *markdown output*"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2}}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/x-evil": f"<script>window.{MARK}='unknown'</script>"}},
        {"output_type": "stream", "name": "stdout", "text": f"<script>window.{MARK}='stream'</script>printed"},
        {"output_type": "error", "ename": "<b>E</b>", "evalue": f"<img src=x onerror=\"window.{MARK}='err'\">",
         "traceback": [f"<script>window.{MARK}='tb'</script>"]},
    ]


def make_hostile(path: Path, answer_grade_id: str = "why", *, schema_valid: bool = True) -> None:
    """The notebook at path (a student's copy of the release) with every vector: in the written
    answer, in outputs, in cell metadata, in a raw cell, in attachments and in the notebook's
    metadata; not ``schema_valid``: also in a cell id and an execution count, where nbformat's
    schema allows no such text (today's formgrader then fails to show the page at all).  Written
    as JSON: a student need not use nbformat."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == answer_grade_id:
            cell["source"] = WRITTEN_ANSWER
            cell.setdefault("metadata", {})["tags"] = [f"\"><img src=x onerror=\"window.{MARK}='tag'\">"]
    svg64 = base64.b64encode(SVG.encode()).decode()
    nb["cells"] += [
        {"cell_type": "code", "execution_count": f"\"><script>window.{MARK}='count'</script>",
         "id": f"x\"><img src=x onerror=\"window.{MARK}='cellid'\">",
         "metadata": {"tags": ["ok"]}, "source": "print('hello')", "outputs": hostile_outputs()},
        {"cell_type": "markdown", "id": "fakegrade", "source": "a fake graded cell",
         "metadata": {"nbgrader": {"grade": True, "solution": True, "points": "<b>2</b>", "schema_version": 3,
                                   "grade_id": f"x\"><img src=x onerror=\"window.{MARK}='gradeid'\">"}}},
        {"cell_type": "raw", "id": "raw", "metadata": {"raw_mimetype": "text/html"},
         "source": f"<script>window.{MARK}='raw'</script><img src=x onerror=\"window.{MARK}='raw-img'\">"},
        {"cell_type": "markdown", "id": "attach", "source": "![evil](attachment:evil.svg) ![page](attachment:p.html)",
         "metadata": {}, "attachments": {"evil.svg": {"image/svg+xml": svg64},
                                         "p.html": {"text/html": base64.b64encode(b"<script>1</script>").decode()}}},
    ]
    nb.setdefault("metadata", {})["title"] = f"<script>window.{MARK}='title'</script>"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0, "x": f"</script><script>window.{MARK}='w'</script>"}}
    if schema_valid:
        nb["cells"][-4]["id"], nb["cells"][-4]["execution_count"] = "hostile-code", 7
    path.write_text(json.dumps(nb))


# -- what "inert" means, checked on markup ---------------------------------------------------

class _Inert(HTMLParser):
    """Collects what in a fragment could run script or load anything."""

    def __init__(self, nonce: str | None = None, script_sources: tuple[str, ...] = ()):
        super().__init__(convert_charrefs=True)
        self.nonce, self.script_sources, self.problems = nonce, script_sources, []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script":
            if self.nonce is None or values.get("nonce") != self.nonce:
                self.problems.append(f"script without the page's nonce: {attrs}")
            elif values.get("src") is not None and not values["src"].startswith(self.script_sources):
                self.problems.append(f"script from elsewhere: {values['src']}")
        controls = ("input", "button", "textarea") if self.nonce is None else ()  # the page's own: scores
        if tag in ("iframe", "frame", "object", "embed", "base", "form", "svg", "math", "video", "audio",
                   "source", *controls) or (tag == "meta" and "http-equiv" in values
                                            and values["http-equiv"].lower() != "content-security-policy"):
            self.problems.append(f"<{tag}>")
        if tag == "link" and (values.get("rel") or "").lower() not in ("stylesheet",):
            self.problems.append(f"<link {attrs}>")
        for name, value in attrs:
            value = (value or "").strip()
            if MARK in value or "evil.example" in value or "/api/" in value:
                self.problems.append(f"<{tag} {name}={value[:60]!r}>")
            if name.startswith("on") or name in ("srcdoc", "formaction", "srcset", "background", "ping"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "src" and tag == "img" and not re.match(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", value):
                self.problems.append(f"<img src={value[:60]!r}>")
            page_link = self.nonce is not None and value.startswith("/formgrader/")  # the page's own
            if name == "href" and tag == "a" and not page_link and not re.match(r"(https?:|mailto:|#)", value):
                self.problems.append(f"<a href={value[:60]!r}>")


def problems(fragment: str) -> list[str]:
    checker = _Inert()
    checker.feed(fragment)
    return checker.problems


@pytest.mark.parametrize("name", VECTORS)
def test_the_sanitiser_leaves_each_vector_inert(name):
    from coursekit.inert import clean_html

    from coursekit.formgrader.inert import markdown2html

    cleaned = clean_html(VECTORS[name])
    assert problems(cleaned) == [], cleaned
    rendered = markdown2html({}, VECTORS[name])  # as a written answer (markdown) is rendered
    assert problems(rendered) == [], rendered


def test_the_sanitiser_keeps_what_an_answer_needs():
    from coursekit.inert import clean_html

    text = ("<p><b>bold</b> <em>it</em> <code>x</code> <a href=\"https://example.org\">link</a> "
            "<a href=\"#part-2\">anchor</a></p><h2 id=\"part-2\">Part 2</h2><table><tr><td>1</td></tr></table>"
            f"<img src=\"data:image/png;base64,{PNG}\" alt=\"plot\">")
    cleaned = clean_html(text)
    for kept in ("<b>bold</b>", "<em>it</em>", "<code>x</code>", 'href="https://example.org"', "<td>1</td>",
                 f'src="data:image/png;base64,{PNG}"', 'alt="plot"'):
        assert kept in cleaned, kept
    assert 'href="#student-part-2"' in cleaned and 'id="student-part-2"' in cleaned  # anchors still work
    assert clean_html("\ud800 lone surrogate").endswith("lone surrogate")  # never raises


def test_rendered_markdown_keeps_its_math_for_mathjax():
    from coursekit.formgrader.inert import markdown2html

    rendered = markdown2html({}, "if $a<b$ and $x \\in \\mathbb{R}$ then\n\n$$\\sum_i x_i$$\n\n# A heading")
    assert "$a&lt;b$" in rendered and "$x \\in \\mathbb{R}$" in rendered and "$$\\sum_i x_i$$" in rendered
    assert 'id="student-A-heading"' in rendered and 'href="#student-A-heading"' in rendered


# -- the formgrader's page, rendered as nbgrader's SubmissionHandler renders it --------------------

def _formgrade_exporter():
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    from coursekit.formgrader import install

    c = Config()
    install(c)
    c.HTMLExporter.template_name = "formgrade"  # as nbgrader's FormgradeExtension sets it
    assert c.HTMLExporter.extra_template_basedirs[-1] == handlers.template_path
    return HTMLExporter(config=c)


NONCE = "n0nceForTheTest"
RESOURCES = {"assignment_id": "hww", "notebook_id": "Nb", "submission_id": "abc", "index": 0, "total": 1,
             "base_url": "", "student": "eve", "last_name": "eve", "first_name": "", "notebook_path": "x",
             "csp_nonce": NONCE}
STATIC = ("/formgrader/static/", "../../../static/jupyter_server_mathjax/")


@pytest.fixture(scope="module", params=["schema-valid", "schema-invalid"])
def hostile_notebook(tmp_path_factory, request) -> Path:
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    from test_written import nbgrader_meta

    path = tmp_path_factory.mktemp("hostile") / "Nb.ipynb"
    nb = new_notebook(cells=[new_markdown_cell("Why is the gradient of `double` constant?"),
                             new_markdown_cell("YOUR ANSWER HERE",
                                               metadata=nbgrader_meta("why", solution=True, points=2))])
    nbformat.write(nb, path)
    make_hostile(path, schema_valid=request.param == "schema-valid")
    return path


def test_the_formgrader_renders_a_hostile_notebook_inert(hostile_notebook):
    page, _ = _formgrade_exporter().from_filename(str(hostile_notebook), resources=dict(RESOURCES))
    checker = _Inert(nonce=NONCE, script_sources=STATIC)
    checker.feed(page)
    assert checker.problems == []
    for raw in ("<script>window.__pwned", "onerror=\"window", "onload=\"window", "href=\"javascript:",
                "evil.example/img", "/api/terminals\"", "srcdoc", "x-mathjax-config\">window"):
        assert raw not in page, raw
    # the TA still reads the answer, and its math is there for MathJax
    assert ANSWER_TEXT in page and "\\mathbb{R}" in page and "\\sum_{i=1}^{n}" in page
    assert 'id="why"' in page  # the written answer's score box
    assert "<b>bold output</b>" in page and "printed" in page  # what is harmless stays
    assert "output not shown to graders: application/javascript" in page


def test_the_formgrader_page_s_own_scripts_carry_the_nonce_and_no_inline_handler(hostile_notebook):
    page, _ = _formgrade_exporter().from_filename(str(hostile_notebook), resources=dict(RESOURCES))
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all(f'nonce="{NONCE}"' in s for s in scripts), scripts
    assert not re.search(r"\son[a-z]+\s*=", page)  # onclick etc. would need 'unsafe-inline'
    assert "text/x-mathjax-config" not in page  # MathJax would eval it


# -- the submission page as the Jupyter server serves it ---------------------------------------

@pytest.fixture(scope="module")
def served_hostile(tmp_path_factory):
    from test_formgrader import STAMP, jupyter_server
    from test_written import NAME, write_course

    from coursekit.autograde.run import autograde
    from coursekit.release import release
    from coursekit.samples import copy_release, hand_in_reference

    tmp = tmp_path_factory.mktemp("served")
    course = write_course(tmp / "course")
    assignment = course.assignment(NAME)
    release(assignment, course, force=True)
    folder = copy_release(course.folder("release", NAME), course.folder("submitted", NAME, "eve"))
    (folder / "timestamp.txt").write_text(STAMP)
    hand_in_reference(assignment, course.repo, folder)
    make_hostile(folder / "Nb.ipynb")
    summary = autograde(assignment, course, jobs=1, progress=False)
    assert summary.graded == ["eve"], summary.failed
    # nbgrader's own autograde copies every file of a hand-in here; the formgrader serves them
    (course.folder("autograded", NAME, "eve") / "evil.html").write_text(f"<script>window.{MARK}=1</script>")
    with jupyter_server(course.root, tmp) as url:
        yield course, url


def _get(url: str, path: str):
    import urllib.request

    from test_formgrader import TOKEN

    request = urllib.request.Request(url + path, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.headers, response.read().decode()


def _submission_id(url: str) -> str:
    from test_formgrader import call
    from test_written import NAME

    return next(n["id"] for n in call(url, f"/formgrader/api/submitted_notebooks/{NAME}/Nb") if n["student"] == "eve")


def test_the_submission_page_is_served_with_a_strict_policy_and_its_nonce(served_hostile):
    course, url = served_hostile
    headers, page = _get(url, f"/formgrader/submissions/{_submission_id(url)}/")
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert directives["default-src"] == "'none'"
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "'self'" not in directives["script-src"] and "'self'" not in directives["connect-src"]
    assert directives["connect-src"].endswith("/formgrader/api/")  # the page's script reaches no /api/
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    checker = _Inert(nonce=nonce, script_sources=STATIC)
    checker.feed(page)
    assert checker.problems == [] and ANSWER_TEXT in page
    # a new nonce for every request
    again = _get(url, f"/formgrader/submissions/{_submission_id(url)}/")[0]["Content-Security-Policy"]
    assert f"'nonce-{nonce}'" not in again


def test_a_file_served_from_a_submission_folder_runs_no_script(served_hostile):
    course, url = served_hostile
    headers, body = _get(url, f"/formgrader/submissions/{_submission_id(url)}/evil.html")
    assert MARK in body  # served as it is ...
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and "default-src 'none'" in csp  # ... in an origin of its own, with no script


# -- the kit's feedback page --------------------------------------------------------------------

def test_the_feedback_page_escapes_what_the_student_wrote_and_allows_no_script():
    from coursekit.results import ItemResult, SubmissionResult
    from coursekit.feedback import feedback_html

    payload = f"<img src=x onerror=\"window.{MARK}=1\"><script>window.{MARK}=2</script>"
    result = SubmissionResult(
        student=f"eve{payload}", assignment=f"hww{payload}",
        items=[ItemResult(f"id{payload}", 0.0, 3, f"ValueError: {payload}", visible=f"printed {payload}",
                          advice=[payload], title=payload)],
        notes=[f"note {payload}"], fingerprint="f", written={f"why{payload}": "answered"})
    page = feedback_html(result)
    head = page[:page.index("<title>")]
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert meta, head
    csp = meta.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in csp and "script-src 'none'" in csp and "img-src data:" in csp
    assert problems(page) == [] and "<script" not in page and "<img" not in page
    assert page.count("&lt;img src=x onerror=") >= 6  # each shown as text


# -- the similarity report -----------------------------------------------------------------------

def test_the_similarity_report_shows_hostile_code_as_text_under_a_strict_policy(tmp_path):
    from test_written import NAME, write_course

    from coursekit.release import release
    from coursekit.samples import copy_release
    from coursekit.similarity import compare

    course = write_course(tmp_path / "course")
    assignment = course.assignment(NAME)
    release(assignment, course, force=True)
    code = ('import numpy as np\n\n\ndef double(x):\n    """</code></pre><script>window.__pwned=1</script>"""\n'
            '    label = "<img src=x onerror=window.__pwned=2>"\n    y = np.asarray(x) * 1.0\n'
            '    for i in range(3):\n        y = y + 0.0 * i\n    return y + y  # </pre><svg onload=alert(1)>\n')
    for student in ("eve", "mal<img src=x onerror=alert(3)>"):
        folder = copy_release(course.folder("release", NAME), course.folder("submitted", NAME, student))
        (folder / "mytorch" / "nn" / "core.py").write_text(code)
    result = compare(assignment, course)
    assert result.flagged, result.pairs  # the pair is shown, code and all
    page = (result.folder / "report.html").read_text()
    head = page[:page.index("<title>")]
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert meta, head
    csp = meta.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in csp
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)  # the report's own, which opens pairs
    hashes = ["'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
              for code in scripts]
    assert re.search(r"script-src ([^;]+)", csp).group(1).split() == hashes, csp
    assert "&lt;script&gt;window.__pwned=1" in page  # the student's code, as text
    assert "<script>window" not in page and "<img src=x" not in page and "<svg" not in page
    assert "onerror=alert(3)>" not in page  # the student id, in file names, is the kit's plain name
