"""`python handin.py` in a fresh release: the PDF a person would look at, and the zip that grades.

The PDF is checked as a reader sees it: pdftotext for the words (rendered
equations, every notebook and file), pdfimages for the plots, pdfinfo for the
page count.  The zip goes through `course collect` and the sandboxed grader.

Needs Chromium and poppler-utils (`.ci/run` installs them).  Where they are
missing these tests skip, except on CI (``CI`` set), where they fail.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from coursekit.runtime.handin.bundle import verify_zip
from coursekit.runtime.handin.pdf import find_browser
from coursekit.runtime.handin.spec import spec_of
from coursekit.samples import copy_release, hand_in_reference

from conftest import HW1, copy_course

SPEC = spec_of(HW1)
POPPLER = ("pdftotext", "pdftoppm", "pdfimages", "pdfinfo")
MATH_ITALIC = re.compile("[\U0001D434-\U0001D467]")  # 𝐴..𝑧: what MathJax prints for $A$, $x$


def need_tools() -> None:
    missing = [t for t in POPPLER if not shutil.which(t)]
    if not find_browser():
        missing.append("chromium")
    if missing:
        message = f"hand-in PDF tests need {', '.join(missing)} (apt-get install chromium poppler-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def run_handin(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # No PYTHONPATH: the hand-in must work with what the released folder holds.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "handin.py", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def pdf_text(pdf: Path, *pages: int) -> str:
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run(["pdftotext", "-layout", *first_last, str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@pytest.fixture(scope="module")
def handed_in(released_course, tmp_path_factory) -> dict:
    """The reference library handed in from a fresh copy of the release."""
    need_tools()
    folder = copy_release(released_course.folder("release", "hw1"), tmp_path_factory.mktemp("student") / "hw1")
    hand_in_reference(HW1, released_course.repo, folder)
    proc = run_handin(folder, "--name", "Ada Lovelace", "--id", "ada")
    return {"folder": folder, "proc": proc, "pdf": folder / SPEC.pdf_name, "zip": folder / SPEC.zip_name}


# --- the command --------------------------------------------------------------------------


def test_one_command_writes_the_pdf_and_the_zip(handed_in):
    proc = handed_in["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert handed_in["pdf"].is_file() and handed_in["zip"].is_file()
    assert not list(handed_in["folder"].glob("*.part"))


def test_it_reports_each_notebook_and_the_points(handed_in):
    out = handed_in["proc"].stdout
    for nb in HW1.notebooks:
        assert re.search(rf"^\s+{nb}\s", out, re.M), out
    assert "3/3 checks pass, 7/7 points" in out  # LinearTester
    assert "notebooks: 35 / 35 points of graded cells pass" in out
    assert "predicted: 35 / 35 autograded points (visible checks and random cases pass; hidden cases decide " \
           "the grade)" in out
    assert "layout checked" in out


def test_name_and_id_are_remembered_outside_the_zip(handed_in):
    saved = json.loads((handed_in["folder"] / ".handin.json").read_text())
    assert (saved["name"], saved["id"]) == ("Ada Lovelace", "ada")
    with zipfile.ZipFile(handed_in["zip"]) as zf:
        assert ".handin.json" not in zf.namelist()


# --- the PDF -------------------------------------------------------------------------------


def test_cover_page_has_the_student_and_the_summary(handed_in):
    cover = pdf_text(handed_in["pdf"], 1)
    for words in ("hw1", "MyTorch", "Ada Lovelace", "ada", "Total", "14 of 14 pass", "35 / 35"):
        assert words in cover, cover
    for nb in HW1.notebooks:
        assert nb in cover
    for rel in HW1.student_files:
        assert rel in cover


def test_equations_are_rendered_not_left_as_tex(handed_in):
    text = pdf_text(handed_in["pdf"])
    assert "$" not in text
    for tex in ("\\frac", "\\mathbb", "\\partial", "\\sigma", "\\top"):
        assert tex not in text, tex
    assert "still being typeset" not in text
    # MathJax's fonts: math italic letters and the operators of the handout's equations.
    assert len(MATH_ITALIC.findall(text)) > 100
    assert "∂" in text
    assert "σ" in text or "𝜎" in text


def test_plots_are_in_the_pdf(handed_in):
    listing = subprocess.run(["pdfimages", "-list", str(handed_in["pdf"])], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    big = [line for line in listing if int(line.split()[3]) >= 300 and int(line.split()[4]) >= 200]
    # ActivationTester's grid of activations, TrainingTester's two learning-curve figures.
    assert len(big) >= 3, listing


def test_every_notebook_and_every_student_file_is_in_the_pdf(handed_in):
    text = pdf_text(handed_in["pdf"])
    for nb in HW1.notebooks:
        assert f"{nb}.ipynb" in text
    for title in ("Problem 1", "Problem 2", "Problem 3", "Problem 4", "Problem 5", "Problem 6"):
        assert title in text
    assert "Appendix: your files" in text
    for rel in HW1.student_files:
        source = (handed_in["folder"] / rel).read_text()
        first_def = next(line.strip() for line in source.splitlines() if line.startswith("class "))
        assert rel in text and first_def in text, rel


def test_the_appendix_starts_each_file_on_its_own_page(handed_in):
    pdf = handed_in["pdf"]
    pages = page_count(pdf)
    heads = []
    for page in range(1, pages + 1):
        lines = [ln.strip() for ln in pdf_text(pdf, page).splitlines() if ln.strip()]
        heads += [(page, ln) for ln in lines[:3] if ln in HW1.student_files]
    assert [rel for _, rel in heads] == list(HW1.student_files)
    assert len({page for page, _ in heads}) == len(HW1.student_files)


def test_page_count_is_sane(handed_in):
    assert 10 <= page_count(handed_in["pdf"]) <= 80


def test_pages_are_not_blank(handed_in, tmp_path):
    subprocess.run(["pdftoppm", "-r", "20", "-gray", str(handed_in["pdf"]), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.pgm"))
    assert len(pages) == page_count(handed_in["pdf"])
    for number, page in enumerate(pages, 1):
        # A page with a line or two of text is not blank; one with only its footer ("7 / 29") and no plot is.
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(handed_in["pdf"]), "-"],
                              capture_output=True, text=True, check=True).stdout
        words = re.sub(r"\b\d+ / \d+\b", "", text).split()
        assert words or _ink(page) > 0.002, page.name


def _ink(pgm: Path) -> float:
    """Share of pixels that are not white, from a binary PGM."""
    data = pgm.read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    pixels = data[header.end():]
    return sum(1 for b in pixels if b < 200) / max(1, len(pixels))


def page_heads(pdf: Path) -> list[str]:
    """The first line of text of every page."""
    return [next((ln.strip() for ln in pdf_text(pdf, page).splitlines() if ln.strip()), "")
            for page in range(1, page_count(pdf) + 1)]


def notebook_heading(nb: str) -> str:
    points = sum(i.points for i in HW1.items_of(nb))
    return f"{nb}.ipynb — {points} points" if points else f"{nb}.ipynb — not graded"


def test_each_problem_starts_a_page_with_its_title_and_points(handed_in):
    heads = page_heads(handed_in["pdf"])
    pages = []
    for nb in HW1.notebooks:
        found = [page for page, head in enumerate(heads, 1) if head.startswith(notebook_heading(nb))]
        assert len(found) == 1, (nb, heads)
        pages += found
        title = next(line for line in pdf_text(handed_in["pdf"], found[0]).splitlines() if "Problem" in line)
        assert re.search(r"Problem \d", title), title  # the notebook's own title follows on that page
    assert pages == sorted(pages)
    assert "LinearTester.ipynb — 7 points" in heads[pages[0] - 1]


def test_training_prints_its_summary_and_plots_not_progress_frames(handed_in):
    pdf, heads = handed_in["pdf"], page_heads(handed_in["pdf"])
    first = next(p for p, h in enumerate(heads, 1) if h.startswith("TrainingTester.ipynb"))
    last = next(p for p, h in enumerate(heads, 1) if h.startswith("Appendix")) - 1
    text = pdf_text(pdf, first, last)
    assert last - first + 1 <= 3, f"TrainingTester takes {last - first + 1} pages"
    assert not re.search(r"epoch/s|\d+%\||\d+/\d+ \[", text), text  # tqdm's bar, rate and counter
    assert re.search(r"regression: 30 epochs in [\d.]+ s — MyTorch loss [\d.]+ \| PyTorch loss", text), text
    assert re.search(r"digits: 20 epochs in [\d.]+ s — MyTorch loss", text), text


def _pink(ppm: Path) -> float:
    """Share of pixels in the colour of JupyterLab's error background (#fdd), from a binary PPM."""
    data = ppm.read_bytes()
    header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    px = data[header.end():]
    n = len(px) // 3
    return sum(1 for i in range(0, 3 * n, 3) if px[i] >= 245 and 200 <= px[i + 1] <= 235
               and 200 <= px[i + 2] <= 235) / max(1, n)


@pytest.mark.parametrize("which", ["handed_in", "broken_hand_in"])
def test_no_page_is_coloured_as_an_error(which, request, tmp_path):
    """Failing checks and errors are bordered blocks; stderr is not printed (once, pages of
    progress bars and tracebacks were printed on lab's pink error background)."""
    pdf = request.getfixturevalue(which)["pdf"]
    subprocess.run(["pdftoppm", "-r", "20", str(pdf), str(tmp_path / "p")], check=True)
    for page in sorted(tmp_path.glob("p-*.ppm")):
        assert _pink(page) < 0.02, page.name


# --- the zip -------------------------------------------------------------------------------


def test_zip_holds_notebooks_and_library_only(handed_in):
    with zipfile.ZipFile(handed_in["zip"]) as zf:
        names = set(zf.namelist())
    expected_py = {p.relative_to(handed_in["folder"]).as_posix()
                   for p in (handed_in["folder"] / "mytorch").rglob("*.py") if "__pycache__" not in p.parts}
    assert names == set(SPEC.notebook_files()) | expected_py | {"handin.json"}
    assert not any("__pycache__" in n or n.startswith(("data/", "coursekit/")) for n in names)
    assert verify_zip(handed_in["zip"], SPEC) == []


def test_zip_notebooks_carry_fresh_outputs_and_meta(handed_in):
    with zipfile.ZipFile(handed_in["zip"]) as zf:
        meta = json.loads(zf.read("handin.json"))
        nb = json.loads(zf.read("LinearTester.ipynb"))
    assert (meta["assignment"], meta["name"], meta["id"]) == ("hw1", "Ada Lovelace", "ada")
    assert meta["notebooks"]["LinearTester"]["checks"] == {
        "linear_init": "pass", "linear_forward": "pass", "linear_backward": "pass"}
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("PASS linear_forward" in "".join(o.get("text", "")) for o in outputs)


def test_zip_round_trips_through_collect_and_autograde(handed_in, released_course, tmp_path):
    from coursekit.autograde import sandbox
    from coursekit.autograde.grader import GraderConfig
    from coursekit.autograde.run import autograde
    from coursekit.collect import collect
    from coursekit.gradebook import item_scores

    course = copy_course(released_course, tmp_path / "course")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(handed_in["zip"], inbox / f"ada_{SPEC.zip_name}")  # as the course site names it
    report = collect(HW1, course, inbox)
    assert report.collected == {"ada": f"ada_{SPEC.zip_name}"} and not report.refused, report
    assert (course.folder("submitted", "hw1", "ada") / "timestamp.txt").is_file()
    strict = os.environ.get("COURSEKIT_REQUIRE_SANDBOX") == "1" or sandbox.available()
    config = GraderConfig() if strict else GraderConfig(require_sandbox=False, use_sandbox=False)
    summary = autograde(HW1, course, jobs=1, students=["ada"], config=config, progress=False)
    assert summary.graded == ["ada"], summary
    assert sum(item_scores(course.db_url, HW1)["ada"].values()) == HW1.total_points == 35


# --- failures stay readable ----------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_hand_in(released_course, tmp_path_factory) -> dict:
    """The untouched release (every check fails), with one notebook that is not JSON."""
    need_tools()
    folder = copy_release(released_course.folder("release", "hw1"), tmp_path_factory.mktemp("broken") / "hw1")
    (folder / "SGDTester.ipynb").write_text("{ this is not a notebook")
    proc = run_handin(folder, "--name", "Blank", "--id", "blank")
    return {"folder": folder, "proc": proc, "pdf": folder / SPEC.pdf_name, "zip": folder / SPEC.zip_name}


def test_failing_checks_and_a_broken_notebook_are_warned_about(broken_hand_in):
    proc = broken_hand_in["proc"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "WARNING" in proc.stderr or "ERROR" in proc.stderr
    assert re.search(r"SGDTester\s+PROBLEM: SGDTester.ipynb is not a readable notebook", proc.stdout)
    assert "0/3 checks pass, 0/7 points; failing: linear_init, linear_forward, linear_backward" in proc.stdout
    # SGD's 2 points are in the unreadable notebook; the prediction reads the library, not the notebooks.
    assert "notebooks: 0 / 33 points of graded cells pass" in proc.stdout
    assert "predicted: 0 / 35 autograded points" in proc.stdout


def test_a_notebook_that_cannot_render_does_not_lose_the_others(broken_hand_in):
    text = pdf_text(broken_hand_in["pdf"])
    assert "This part of the hand-in could not be rendered" in text
    assert "SGDTester.ipynb is not a readable notebook" in text
    for nb in HW1.notebooks:
        assert f"{nb}.ipynb" in text
    assert "Problem 5" in text and "not implemented yet" in text
    cover = pdf_text(broken_hand_in["pdf"], 1)
    assert "NotImplementedError" in cover and "stub(s)" in cover  # unedited files are marked


def test_a_broken_zip_layout_is_an_error(broken_hand_in):
    # The unreadable notebook is handed in as it is, and the check says so.
    proc = broken_hand_in["proc"]
    assert proc.returncode == 1
    assert "SGDTester.ipynb is not a valid notebook" in proc.stderr


def test_a_missing_browser_is_one_line_saying_what_to_install(released_course, tmp_path):
    folder = copy_release(released_course.folder("release", "hw1"), tmp_path / "hw1")
    proc = run_handin(folder, "--name", "A", "--id", "a", "--browser", str(tmp_path / "no-such-chromium"),
                      timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "not found" in proc.stderr, proc.stderr
    assert not (folder / SPEC.zip_name).exists()


def test_missing_engines_say_what_to_install(monkeypatch):
    from coursekit.runtime.handin import pdf
    from coursekit.runtime.handin.spec import HandinError

    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    monkeypatch.setattr(pdf, "BROWSER_PATHS", ())
    monkeypatch.delenv("HANDIN_BROWSER", raising=False)
    with pytest.raises(HandinError, match="apt install chromium"):
        pdf.check_engine("chromium")
    with pytest.raises(HandinError, match="pandoc and XeLaTeX.*texlive-xetex"):
        pdf.check_engine("latex")


def test_no_name_without_a_terminal_is_one_line(released_course, tmp_path):
    folder = copy_release(released_course.folder("release", "hw1"), tmp_path / "hw1")
    proc = run_handin(folder, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ('handin: error: no name or student id yet: run '
                                   '`python handin.py --name "Your Name" --id YOUR_ID`')


def test_summary_of_graded_cells_by_grade_id():
    import nbformat

    from coursekit.runtime.handin.run import FAIL, NOT_RUN, PASS, summarise

    def code(gid, outputs, count=1, grade=True):
        cell = nbformat.v4.new_code_cell("check()", metadata={"nbgrader": {"grade": grade, "grade_id": gid,
                                                                          "points": 2}})
        cell.outputs, cell.execution_count = outputs, count
        return cell

    err = nbformat.v4.new_output("error", ename="CheckFailed", evalue="tanh: wrong", traceback=[])
    nb = nbformat.v4.new_notebook(cells=[code("a", []), code("b", [err]), code("c", [], count=None),
                                         code("plot", [err], grade=False)])
    graded, errors = summarise(nb)
    assert [(c.grade_id, c.status) for c in graded] == [("a", PASS), ("b", FAIL), ("c", NOT_RUN)]
    assert graded[1].message == "CheckFailed: tanh: wrong"
    assert errors == ["cell 4: CheckFailed: tanh: wrong"]


def test_edited_graded_cells_are_noticed_with_nbgraders_checksum(released_course):
    import nbformat
    from nbgrader.utils import compute_checksum

    from coursekit.runtime.handin.run import edited_graded_cells, nbgrader_checksum

    nb = nbformat.read(released_course.folder("release", "hw1") / "LossTester.ipynb", as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert all(nbgrader_checksum(c) == compute_checksum(c) for c in graded)
    assert edited_graded_cells(nb) == []
    graded[0].source = "pass"
    assert edited_graded_cells(nb) == [graded[0].metadata.nbgrader.grade_id]


def test_progress_bars_are_shown_as_a_terminal_would(released_course):
    import nbformat

    from coursekit.runtime.handin.run import _as_a_terminal_shows

    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="a 10%\ra 50%\ra 100%\nnext\r\n")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    _as_a_terminal_shows(nb)
    assert cell.outputs[0]["text"] == "a 100%\nnext\n"


def test_a_bar_redrawn_in_outputs_of_its_own_is_one_line():
    """The kernel sends every redraw as an output of its own: consecutive outputs of one stream
    are joined first, as Jupyter shows them; other outputs keep their place."""
    import nbformat

    from coursekit.runtime.handin.run import _as_a_terminal_shows

    new = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [new("stream", name="stdout", text="start\n"),
                    *(new("stream", name="stderr", text=f"\rtrain {p}%") for p in (0, 50, 100)),
                    new("stream", name="stderr", text="\n"),
                    new("display_data", data={"text/plain": "<Figure>"}),
                    new("stream", name="stdout", text="done\n")]
    _as_a_terminal_shows(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.output_type, o.get("name"), o.get("text")) for o in cell.outputs] == [
        ("stream", "stdout", "start\n"), ("stream", "stderr", "train 100%\n"),
        ("display_data", None, None), ("stream", "stdout", "done\n")]


def test_the_release_ships_the_runtime_folder_whole_and_nothing_else_of_the_kit(repo, released_course):
    from coursekit.assignment import SHIPPED_CHECKS

    release = released_course.folder("release", HW1.name)
    shipped = {p.relative_to(release).as_posix() for p in (release / "coursekit").rglob("*.py")}
    runtime = {p.relative_to(repo).as_posix() for p in (repo / "coursekit" / "runtime").rglob("*.py")}
    assert "coursekit/runtime/handin/main.py" in runtime
    assert shipped == runtime | {"coursekit/__init__.py", SHIPPED_CHECKS}


def test_a_notebook_nbconvert_cannot_convert_becomes_a_page_saying_so(monkeypatch):
    import nbformat

    from coursekit.runtime.handin.document import NotebookHTML
    from coursekit.runtime.handin.run import NotebookRun

    html = NotebookHTML()
    real = html._export

    def export(nb):
        if nb.metadata.get("poison"):
            raise ValueError("a broken output")
        return real(nb)

    monkeypatch.setattr(html, "_export", export)
    good = NotebookRun("Good", nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Fine $x^2$")]))
    bad = NotebookRun("Bad", nbformat.v4.new_notebook(metadata={"poison": True}))
    bad_part, good_part = html.convert(bad), html.convert(good)
    assert "could not be converted to HTML: ValueError: a broken output" in bad_part.body
    assert bad_part.problem and not good_part.problem
    assert "Fine" in good_part.body and "$x^2$" in good_part.body  # left for MathJax
    assert "jp-Cell" in html.styles  # the lab CSS, kept once for the whole document


def test_the_latex_route_replaces_only_the_notebook_latex_cannot_take(monkeypatch, tmp_path):
    import datetime as dt

    import nbformat

    from coursekit.runtime.handin import pdf
    from coursekit.runtime.handin.run import NotebookRun

    def fake_latex(nb):
        if any("$\\broken$" in c.source for c in nb.cells):
            raise RuntimeError("! Undefined control sequence \\broken")
        return b"%PDF-1.5 " + "|".join(c.source[:20] for c in nb.cells).encode()

    monkeypatch.setattr(pdf, "_latex_one", fake_latex)
    runs = [NotebookRun("A", nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("fine")])),
            NotebookRun("B", nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$\\broken$")]))]
    out = tmp_path / "x.pdf"
    problems = pdf.latex_pdf(SPEC, runs, "Ada", "ada", {"mytorch/nn/linear.py": "x = 1\n"},
                             dt.datetime.now(), out)
    assert problems == ["B.ipynb: LaTeX could not render it: ! Undefined control sequence \\broken"]
    data = out.read_bytes().decode()
    assert "fine" in data and "# B.ipynb" in data and "$\\broken$" not in data


@pytest.mark.skipif(not (shutil.which("xelatex") and shutil.which("pandoc")),
                    reason="the opt-in latex engine needs pandoc and XeLaTeX")
def test_the_latex_engine_prints_the_hand_in(handed_in, tmp_path):
    import datetime as dt

    import nbformat

    from coursekit.runtime.handin import pdf
    from coursekit.runtime.handin.document import read_sources
    from coursekit.runtime.handin.run import NotebookRun

    with zipfile.ZipFile(handed_in["zip"]) as zf:
        runs = [NotebookRun(nb, nbformat.reads(zf.read(f"{nb}.ipynb").decode(), as_version=4))
                for nb in ("LinearTester", "ActivationTester")]
    out = tmp_path / "latex.pdf"
    assert pdf.latex_pdf(SPEC, runs, "Ada", "ada", read_sources(handed_in["folder"], SPEC), dt.datetime.now(),
                         out) == []
    text = pdf_text(out)
    assert "Problem 1" in text and "Problem 4" in text and "mytorch/models/mlp.py" in text
    assert "$" not in text


# --- what the PDF prints of a notebook ----------------------------------------------------


@pytest.fixture(scope="module")
def trained(released_course, tmp_path_factory) -> dict:
    """LinearTester and TrainingTester run by the hand-in's own runner, on the release with the
    reference library (no browser needed)."""
    from dataclasses import replace

    from coursekit.runtime.handin.run import run_notebooks

    folder = copy_release(released_course.folder("release", "hw1"), tmp_path_factory.mktemp("trained") / "hw1")
    hand_in_reference(HW1, released_course.repo, folder)
    spec = replace(SPEC, notebooks=("LinearTester", "TrainingTester"))
    return dict(zip(spec.notebooks, run_notebooks(folder, spec, jobs=2)))


def test_training_in_a_hand_in_writes_no_stderr_and_one_line_per_run(trained):
    run = trained["TrainingTester"]
    assert run.ok, (run.problem, run.errors)
    texts = []
    for cell in run.notebook.cells:
        for out in cell.get("outputs", []):
            assert not (out.output_type == "stream" and out.name == "stderr"), out
            if out.output_type == "stream":
                texts.append(out.text)
            elif "text/plain" in out.get("data", {}) and not set(out.data) - {"text/plain"}:
                texts.append(out.data["text/plain"])  # a text-only display: the training line
    assert not any("\r" in t for t in texts), texts
    lines = [line for t in texts for line in t.splitlines() if line.strip()]
    assert len(lines) == 2 and all(re.match(r"[\w-]+: \d+ epochs in [\d.]+ s — MyTorch loss", ln)
                                   for ln in lines), lines


def test_the_pdf_html_has_no_stderr_and_heads_each_part_with_its_points(trained):
    from coursekit.runtime.handin.document import NotebookHTML

    html = NotebookHTML()
    linear, training = (html.convert(trained[nb]) for nb in ("LinearTester", "TrainingTester"))
    assert "application/vnd.jupyter.stderr" not in training.body  # neither stderr nor an error
    assert "regression: 30 epochs in" in training.body
    assert "LinearTester.ipynb — 7 points</span>" in linear.body
    assert "7 / 7 points by the visible checks" in linear.body
    assert "TrainingTester.ipynb — not graded</span>" in training.body


def test_the_pdf_drops_stderr_and_shows_errors_as_given_without_colours():
    import nbformat

    from coursekit.runtime.handin.document import NotebookHTML, for_print
    from coursekit.runtime.handin.run import NotebookRun

    new = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("check('x')")
    cell.outputs = [new("stream", name="stdout", text="my own print\n"),
                    new("stream", name="stderr", text="UserWarning: library noise\n"),
                    new("error", ename="CheckFailed", evalue="x: wrong",
                        traceback=["\x1b[31mCheckFailed\x1b[39m: x: wrong", "\x1b[1mline two\x1b[0m"])]
    bare = nbformat.v4.new_code_cell("1/0")
    bare.outputs = [new("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb = nbformat.v4.new_notebook(cells=[cell, bare])
    shown = for_print(nb)
    assert [o.output_type for o in shown.cells[0].outputs] == ["stream", "error"]
    assert shown.cells[0].outputs[1].traceback == ["CheckFailed: x: wrong", "line two"]
    assert shown.cells[1].outputs[0].traceback == ["ZeroDivisionError: division by zero"]
    assert len(nb.cells[0].outputs) == 3 and "\x1b" in nb.cells[0].outputs[2].traceback[0]  # the zip's copy

    body = NotebookHTML().convert(NotebookRun("Nb", nb)).body
    assert "my own print" in body and "library noise" not in body
    assert "CheckFailed: x: wrong" in body and "line two" in body and "ansi-" not in body
    assert body.count('data-mime-type="application/vnd.jupyter.stderr"') == 2  # the two errors


def test_a_part_counts_written_answers_in_its_points():
    import nbformat

    from coursekit.runtime.handin.document import banner, heading
    from coursekit.runtime.handin.run import NotebookRun, summarise

    def graded(cell, gid, points):
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": gid, "points": points}
        return cell

    code = graded(nbformat.v4.new_code_cell("check('a')"), "a", 3)
    code.execution_count = 1
    nb = nbformat.v4.new_notebook(cells=[code, graded(nbformat.v4.new_markdown_cell("answer"), "why", 2)])
    run = NotebookRun("Nb", nb)
    run.graded, run.errors = summarise(nb)
    assert heading(run) == "Nb.ipynb — 5 points"
    assert "3 / 3 points by the visible checks" in banner(run) and "2 graded by hand" in banner(run)
    nb.cells = nb.cells[:1]
    nb.cells[0].metadata.nbgrader["points"] = 1
    run.graded, _ = summarise(nb)
    assert heading(run) == "Nb.ipynb — 1 point" and "graded by hand" not in banner(run)
    assert heading(NotebookRun("Plain", nbformat.v4.new_notebook())) == "Plain.ipynb — not graded"


def test_name_and_id_are_asked_once_then_remembered(tmp_path, monkeypatch):
    from coursekit.runtime.handin import main as cli

    answers = iter(["Grace Hopper", "gh42"])
    monkeypatch.setattr(cli.sys, "stdin", type("TTY", (), {"isatty": staticmethod(lambda: True)})())
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert cli.identity(tmp_path, None, None) == {"name": "Grace Hopper", "id": "gh42"}
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked again"))
    assert cli.identity(tmp_path, None, None) == {"name": "Grace Hopper", "id": "gh42"}
    assert cli.identity(tmp_path, None, "gh43")["id"] == "gh43"  # an option replaces what was remembered
    assert json.loads((tmp_path / ".handin.json").read_text())["id"] == "gh43"
    with pytest.raises(cli.HandinError, match="student id 'a/b'"):
        cli.identity(tmp_path, None, "a/b")


def test_answering_a_written_question_is_not_editing_a_graded_cell():
    """A written answer cell (grade and solution) is meant to change; a graded test cell is not."""
    import nbformat

    from coursekit.runtime.handin.run import edited_graded_cells, nbgrader_checksum

    def cell(kind, grade_id, solution):
        meta = {"grade": True, "solution": solution, "locked": not solution, "grade_id": grade_id, "points": 2.0,
                "schema_version": 3}
        c = (nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell)(
            "YOUR ANSWER HERE" if solution else 'check("x")', metadata={"nbgrader": meta})
        c.metadata["nbgrader"]["checksum"] = nbgrader_checksum(c)
        return c

    nb = nbformat.v4.new_notebook(cells=[cell("markdown", "why", True), cell("code", "x", False)])
    assert edited_graded_cells(nb) == []
    nb.cells[0].source = "Because the Jacobian is not diagonal."
    assert edited_graded_cells(nb) == []
    nb.cells[1].source = "pass"
    assert edited_graded_cells(nb) == ["x"]
