"""A hostile hand-in, opened by a TA in a real browser (Playwright + Debian's chromium): the
formgrader's submission page, a file served from the submission folder, the kit's feedback page
and the similarity report run none of the student's script and load nothing, and the TA still
reads the answer (its math typeset by MathJax) and grades it (issue 17, class 1)."""
from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from test_formgrader import STAMP, TOKEN, call, jupyter_server
from test_inert_views import ANSWER_TEXT, MARK, make_hostile
from test_written import NAME, grade_by_hand, write_course

HOSTILE_CODE = f'''import numpy as np


def double(x):
    """Twice x.</code></pre><script>window.{MARK}='docstring'</script>"""
    print("<img src=x onerror=\\"window.{MARK}='printed'\\">", np.asarray(x).shape)
    raise ValueError("<script>window.{MARK}='exception'</script><img src=x onerror=\\"window.{MARK}='exc-img'\\">")
'''
COMMENT = f"Nice try <img src=x onerror=\"window.{MARK}='comment'\"><script>window.{MARK}='comment2'</script>"
# Set before any page script: what the page's policy blocked (the page's own needs included).
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));"""


class Watch:
    """What a page did: dialogs opened, requests made, console lines."""

    def __init__(self, page, server: str | None):
        self.page, self.server = page, server
        self.dialogs, self.requests, self.console = [], [], []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append(m.text))

    def settle(self) -> None:
        self.page.wait_for_timeout(1500)  # handlers (onerror, onload, refresh) run in this time

    def assert_inert(self, where: str, url: str) -> None:
        found = []  # every sign at once, so that a failure shows all that got through
        api = [u for u in self.requests if urlparse(u).path.startswith("/api/")]
        if api:
            found.append(f"requests to a Jupyter API path {api}")
        elsewhere = [u for u in self.requests if not u.startswith(("data:", "file:", "about:blank"))
                     and (self.server is None or not u.startswith(self.server))]
        if elsewhere:
            found.append(f"requests elsewhere {elsewhere}")
        if self.dialogs:
            found.append(f"dialogs {self.dialogs}")
        if self.page.url.split("?")[0] != url:  # (the formgrader itself adds ?index=N to its address)
            found.append(f"navigated to {self.page.url}")
        else:
            pwned = self.page.evaluate(f"window.{MARK} === undefined ? null : String(window.{MARK})")
            if pwned is not None:
                found.append(f"the student's script ran (window.{MARK} = {pwned!r})")
            # Nothing even tried: the sanitiser removed it before the policy had to block it (and the
            # page's own scripts, styles and MathJax's fonts all fit the policy).  MathJax probes
            # web-font support with a font at about:blank, which the policy refuses, harmlessly.
            violations = [v for v in self.page.evaluate("window.__violations || []") if v != "font-src about "]
            if violations:
                found.append(f"blocked by the policy: {violations}")
        assert not found, f"{where}: " + "; ".join(found)


@pytest.fixture(scope="module")
def hostile_course(tmp_path_factory):
    from coursekit.autograde.run import autograde
    from coursekit.feedback import refresh_outputs
    from coursekit.release import release
    from coursekit.samples import copy_release, hand_in_reference
    from coursekit.similarity import compare

    tmp = tmp_path_factory.mktemp("inert")
    course = write_course(tmp / "course")
    assignment = course.assignment(NAME)
    release(assignment, course, force=True)
    for student in ("eve", "mal"):
        folder = copy_release(course.folder("release", NAME), course.folder("submitted", NAME, student))
        (folder / "timestamp.txt").write_text(STAMP)
        hand_in_reference(assignment, course.repo, folder)
        (folder / "mytorch" / "nn" / "core.py").write_text(HOSTILE_CODE)  # the same, for the similarity report
    make_hostile(course.folder("submitted", NAME, "eve") / "Nb.ipynb")
    make_hostile(course.folder("submitted", NAME, "mal") / "Nb.ipynb", schema_valid=False)
    summary = autograde(assignment, course, jobs=1, progress=False)
    assert sorted(summary.graded) == ["eve", "mal"], summary.failed
    grade_by_hand(course, "eve", 1.0, COMMENT)
    assert refresh_outputs(course, assignment, "eve")
    assert compare(assignment, course).flagged
    # nbgrader's own autograde copies every file of a hand-in beside the notebook; the formgrader serves them
    (course.folder("autograded", NAME, "eve") / "evil.html").write_text(
        f"<script>window.{MARK}='served'; fetch('/api/terminals', {{method: 'POST'}})</script>")
    return tmp, course


@pytest.mark.slow
def test_a_ta_grading_a_hostile_hand_in_runs_none_of_it(hostile_course):
    playwright = pytest.importorskip("playwright.sync_api")
    from nbgrader.api import Gradebook

    tmp, course = hostile_course
    with jupyter_server(course.root, tmp) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      extra_http_headers={"Authorization": f"token {TOKEN}"})
        context.add_init_script(WATCH)

        notebooks = call(url, f"/formgrader/api/submitted_notebooks/{NAME}/Nb")
        ids = {n["student"]: n["id"] for n in notebooks}
        # mal's notebook also has text where nbformat's schema allows none (a cell id, an execution
        # count): shown all the same (today's formgrader fails on it with an error page)
        for student in ("eve", "mal"):
            page = context.new_page()
            watch = Watch(page, url)
            address = f"{url}/formgrader/submissions/{ids[student]}/"
            page.goto(address)
            watch.settle()
            watch.assert_inert(f"{student}'s submission page, as it opens", address)
            score = page.locator("input.score#why")
            score.wait_for()
            page.wait_for_function("window.MathJax && MathJax.Hub", timeout=30000)
            answer = page.locator(".nbgrader_cell", has=score)
            answer.locator(".MathJax_Display").first.wait_for(timeout=30000)  # $$...$$ typeset
            # the TA reads the answer and its math (inline and display), and prods what looks clickable
            assert answer.get_by_text(ANSWER_TEXT).is_visible()
            assert answer.locator(".MathJax").count() >= 2 and answer.locator(".MathJax_Display").count() >= 1
            for text in ("click me", "md link", "data link", "toggled"):
                page.get_by_text(text).first.click()
            page.get_by_text("bold output").hover()
            links = page.eval_on_selector_all("#notebook-container a[href]", "a => a.map(e => e.getAttribute('href'))")
            # every link left (MathJax's \\href ones too) goes to the web or within the page
            assert not [h for h in links if not h.startswith(("https:", "http:", "mailto:", "#"))], links
            watch.settle()
            watch.assert_inert(f"{student}'s submission page", address)
            assert "output not shown to graders" in page.inner_text("body")

            # ... and grades it: the page's own scripts work under its policy
            score.fill("1.5")
            score.press("Tab")
            for _ in range(100):
                with Gradebook(course.db_url) as gb:
                    saved = gb.find_grade("why", "Nb", NAME, student).manual_score
                if saved == 1.5:
                    break
                time.sleep(0.2)
            assert saved == 1.5, student

        # a student's file the formgrader serves from the submission folder
        served = f"{url}/formgrader/submissions/{ids['eve']}/evil.html"
        page.goto(served)
        watch.settle()
        pwned = page.evaluate(f"window.{MARK} === undefined ? null : String(window.{MARK})")
        assert pwned is None and not [u for u in watch.requests if urlparse(u).path.startswith("/api/")]

        # the kit's feedback page and the similarity report, opened from the disk
        for where, path, shown in (
                ("the feedback page", course.folder("feedback", NAME, "eve") / "feedback.html", "Nice try <img"),
                ("the similarity report", course.root / "similarity" / NAME / "report.html", None)):
            page = context.new_page()
            watch = Watch(page, None)
            page.goto(path.as_uri())
            if shown is None:  # the report: open the matched code (its one script, allowed by hash)
                page.get_by_text("View matched code").first.click()
                shown = f"<script>window.{MARK}='docstring'</script>"
                page.get_by_text(shown).first.wait_for(state="visible")
            watch.settle()
            watch.assert_inert(where, path.as_uri())
            assert shown in page.inner_text("body"), where  # the student's text, as text
        browser.close()
