"""`course similarity A`: which hand-ins share code, for a human to look at.

The comparison itself is copydetect's (winnowed k-gram fingerprints of the
tokenised code, names replaced by placeholders, so renaming variables does
not hide a copy); this module only feeds it and reads its result.

* **What is compared.**  For every student with a ``submitted/<student>/A``
  folder: the library files they write (the assignment's student files) and
  the code cells of its notebooks, joined into ONE text per student, each
  part headed by a comment naming the file (or notebook cell) it came from.
  One text per student rather than one per file because a copier may move
  a method to another class or file, or reorder them: fingerprints are
  matched wherever they are, and a student pair is compared exactly once
  (copydetect never compares a file with itself, so nobody matches their
  own code).  The report then shows each whole hand-in with its matching
  lines highlighted.
* **What is ignored.**  The same extraction of ``release/A`` (stubs,
  signatures, docstrings, the notebooks' tester cells) is copydetect's
  boilerplate: any fingerprint in it is dropped from every student's before
  comparing, so code everybody was given never counts, and the share of a
  hand-in that matches is a share of what the student wrote.  Comments,
  whitespace and names never count (copydetect's tokeniser drops them).
* **Hostile folders.**  Everything is read through ``safefs`` (no link
  followed, only regular files opened, every read capped) and notebooks
  through the grader's own parser; a file that cannot be used is skipped with
  one line naming the student and the file, and the rest goes on.  What is
  compared is capped (MAX_CODE per student, MAX_TOTAL_CODE for everyone, the
  largest hand-ins cut first) and so is the code the report shows
  (MAX_REPORT_CODE), each cut said in one line.  Student code is never run
  or imported.  Only ``similarity/A/`` in the course
  directory is written, each file atomically.
* **The score.**  copydetect gives each pair two shares: the part of A's
  (non-boilerplate) code that matches B, and of B's that matches A.  A pair's
  ``similarity`` is the larger of the two, so a student who copied all of
  someone's code and added more is still caught.  ``THRESHOLD`` marks the
  pairs worth a look; it is a signal for a human, never a penalty.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.assignment import Assignment
from coursekit import safefs
from coursekit.autograde.submission import read_cells, source_text
from coursekit.runtime.checks.library import MAX_LIBRARY_FILE
from coursekit.course import Course, CourseError
from coursekit.safefs import write_atomic
from coursekit.inert import meta_csp, policy, sha256_source
from coursekit.spreadsheet import text_cell

# A pair whose similarity is above this is flagged for a human to read.  Calibrated on
# tests/test_similarity.py: a copy with renamed variables, reordered methods and classes and
# rewritten comments and docstrings scores 0.66 against its source; independent honest
# solutions of the same small functions score at most 0.29 (they share idioms such as
# ``x.sum(axis=0)`` and the given method calls).  0.45 sits about midway.
THRESHOLD = 0.45
DEFAULT_TOP = 10
# copydetect's k-gram length, in characters of tokenised code (a name is one character):
# shorter matches are noise.  Window 1 (guarantee = noise) keeps every fingerprint: the
# hand-ins are small, and a missed short copy costs more than the time.
NOISE = 25
GUARANTEE = 25
# copydetect keeps ~180 bytes per character of code it compares (with window 1, every k-gram's
# hash and position as Python objects, in a dict of lists), and its report repeats each flagged
# pair's code: what it is given is capped.
# One student's extracted code; beyond this the rest is skipped (a hand-in is 10-30 KB).
MAX_CODE = 128 << 10
# Everyone's code together (a class of 700 hand-ins of 11 KB, ~1.4 GB in copydetect); beyond it
# the largest hand-ins are cut to the same size, the smaller ones kept whole (see _fit_total).
MAX_TOTAL_CODE = 8 << 20
# The code the report shows, over all the pairs it shows (each pair: both hand-ins, as HTML up
# to 5 times as large); the most similar pairs that fit are shown, pairs.csv lists every pair.
MAX_REPORT_CODE = 8 << 20


@dataclass
class HandIn:
    """One student's code as compared: a text of headed sections, and what could not be read."""
    student: str
    text: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pair:
    student_a: str
    student_b: str
    share_a: float  # of a's own (non-boilerplate) code, the part that matches b's
    share_b: float
    tokens: int  # tokens of a's code in the matching stretches

    @property
    def similarity(self) -> float:
        return max(self.share_a, self.share_b)


@dataclass
class Result:
    pairs: list[Pair]  # every pair once, most similar first
    problems: list[str]  # one line per file skipped, naming student and file
    folder: Path  # similarity/<assignment>
    threshold: float

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.similarity > self.threshold]


# -- extracting code --------------------------------------------------------------------

def _header(where: str) -> str:
    # A comment: copydetect's tokeniser drops it, so it never makes two hand-ins alike.
    return f"# ==== {safefs.printable(where)} ====\n"


def extract(assignment: Assignment, folder: Path, student: str) -> HandIn:
    """The student's library files and notebook code cells from ``folder``; never raises for
    what the folder holds."""
    hand_in = HandIn(student)
    who = safefs.printable(student)
    sections: list[str] = []
    size = 0

    def add(where: str, code: str) -> None:
        nonlocal size
        encoded = len(code.encode("utf-8", "surrogatepass"))
        if size + encoded > MAX_CODE:
            hand_in.problems.append(f"{who}: {safefs.printable(where)}: skipped, the hand-in's code is "
                                    f"larger than {safefs.size_text(MAX_CODE)} in all")
            return
        size += encoded
        sections.append(_header(where) + code.rstrip("\n") + "\n")

    problem = safefs.folder_problem(folder)
    if problem:
        hand_in.problems.append(f"{who}: {problem.message}")
        return hand_in
    for rel in assignment.student_files:
        data = safefs.read_capped(folder, rel, MAX_LIBRARY_FILE)
        if isinstance(data, safefs.Problem):
            hand_in.problems.append(f"{who}: {data.message}; skipped")
            continue
        try:
            add(rel, data.decode("utf-8"))
        except UnicodeDecodeError as err:
            hand_in.problems.append(f"{who}: {safefs.printable(rel)}: not UTF-8 text (byte {err.start}); skipped")
    for notebook in assignment.notebooks:
        rel = f"{notebook}.ipynb"
        # The grader's parser: read through safefs, capped at MAX_NOTEBOOK_BYTES, JSON checked.
        cells, problem = read_cells(folder, rel)
        if problem:
            hand_in.problems.append(f"{who}: {problem}; skipped")
            continue
        for k, cell in enumerate(cells):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = source_text(cell.get("source", ""))
            where = f"{rel}, cell {k + 1}"
            if source is None or not safefs.is_utf8(source):
                hand_in.problems.append(f"{who}: {where}: its source is not text; skipped")
            elif len(source) > MAX_LIBRARY_FILE:
                hand_in.problems.append(f"{who}: {where}: larger than {safefs.size_text(MAX_LIBRARY_FILE)}; "
                                        "skipped")
            elif source.strip():
                add(where, source)
    hand_in.text = "".join(sections)
    return hand_in


# -- running copydetect -----------------------------------------------------------------

def _file_name(student: str, taken: set[str]) -> str:
    """A plain file name for the student's extracted code: it is shown in the report (which
    copydetect does not escape), so anything but letters, digits, '.', '_' and '-' is replaced
    and a short hash keeps altered names apart."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", safefs.printable(student, limit=60)).lstrip(".") or "_"
    if safe != student or safe.lower() in taken:
        safe += "-" + hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    taken.add(safe.lower())
    return safe + ".py"


def _output_folder(course: Course, name: str) -> Path:
    out = course.root / "similarity" / name
    for part in (out.parent, out):
        if part.is_symlink():
            raise CourseError(f"{part}: is a link; the report is written only into a real folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def compare(assignment: Assignment, course: Course, *, threshold: float = THRESHOLD,
            progress: bool = False) -> Result:
    """Compare every pair of the assignment's hand-ins; write ``similarity/<A>/`` (report.html,
    pairs.csv, and code/ and boilerplate/, the texts copydetect compared)."""
    from copydetect import CopyDetector
    from tqdm import tqdm

    name = assignment.name
    release = course.folder("release", name)
    if safefs.folder_problem(release):
        raise CourseError(f"{name}: no release in {release}; run `course release {name}` first")
    students = course.students(name)
    if not students:
        raise CourseError(f"{name}: no submissions in {course.root / 'submitted'} (`course collect` puts them there)")
    out = _output_folder(course, name)
    code_dir, boiler_dir = out / "code", out / "boilerplate"
    for folder in (code_dir, boiler_dir):
        if folder.is_symlink():
            raise CourseError(f"{folder}: is a link; the report is written only into a real folder")
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.py"):  # last run's students
            old.unlink()

    boilerplate = extract(assignment, release, "release")
    write_atomic(boiler_dir / "release.py", boilerplate.text)
    problems = list(boilerplate.problems)
    by_file: dict[str, str] = {}
    sizes: dict[str, int] = {}  # file -> bytes of code
    taken: set[str] = set()
    for student in tqdm(students, desc="reading hand-ins", unit="student", disable=not progress, file=sys.stderr):
        # submitted/<student> itself a link would lead elsewhere: course.students() follows it.
        if (course.stage("submitted") / student).is_symlink():
            hand_in = HandIn(student, problems=[f"{safefs.printable(student)}: the student's folder is a link; "
                                                "skipped"])
        else:
            hand_in = extract(assignment, course.folder("submitted", name, student), student)
        problems.extend(hand_in.problems)
        path = code_dir / _file_name(student, taken)
        write_atomic(path, hand_in.text)
        by_file[str(path)] = student
        sizes[str(path)] = path.stat().st_size
    problems.extend(_fit_total(sizes, by_file))

    detector = CopyDetector(test_dirs=[str(code_dir)], ref_dirs=[str(code_dir)], boilerplate_dirs=[str(boiler_dir)],
                            extensions=["py"], noise_t=NOISE, guarantee_t=GUARANTEE, display_t=threshold,
                            force_language="python", autoopen=False, silent=not progress,
                            out_file=str(out / "report.html"))
    # copydetect prints its progress to stdout; the terminal's stdout is for the table.
    with contextlib.redirect_stdout(sys.stderr):
        detector.run()
        pairs = _pairs(detector, by_file)
        detector.conf.display_t, left_out = _report_threshold(pairs, threshold, sizes, by_file)
        if left_out:
            problems.append(f"the report shows the most similar pairs whose code fits "
                            f"{safefs.size_text(MAX_REPORT_CODE)}; {left_out} more above the threshold are "
                            "only in pairs.csv")
        html = detector.generate_html_report(output_mode="return") if len(by_file) > 1 else None
    if html is not None:
        write_atomic(out / "report.html", offline(html))
    else:  # one hand-in: no pair to show, and last run's report would mislead
        (out / "report.html").unlink(missing_ok=True)
    write_atomic(out / "pairs.csv", pairs_csv(pairs, threshold))
    return Result(pairs, problems, out, threshold)


def _fit_total(sizes: dict[str, int], by_file: dict[str, str]) -> list[str]:
    """Cut the largest students' code files so that all of them together are at most
    MAX_TOTAL_CODE: every file larger than a common size is cut to it (at a line's end), the
    others stay whole.  One line per student cut."""
    level = _water_level(list(sizes.values()), MAX_TOTAL_CODE)
    problems = []
    for file, size in sorted(sizes.items(), key=lambda fs: by_file[fs[0]]):
        if level is None or size <= level:
            continue
        data = Path(file).read_bytes()[:level]
        kept = data[:data.rfind(b"\n") + 1].decode("utf-8", "ignore")
        write_atomic(Path(file), kept)
        sizes[file] = len(kept.encode("utf-8"))
        problems.append(f"{safefs.printable(by_file[file])}: only the first {safefs.size_text(level)} of the "
                        f"code was compared (everyone's code is larger than {safefs.size_text(MAX_TOTAL_CODE)} "
                        "in all, and the largest hand-ins are cut to fit)")
    return problems


def _water_level(sizes: list[int], total: int) -> int | None:
    """The size to cut the larger of ``sizes`` to so that they sum to at most ``total`` (None:
    they already do)."""
    left = total
    ordered = sorted(sizes)
    for k, size in enumerate(ordered):
        share = left // (len(ordered) - k)
        if size > share:
            return share
        left -= size
    return None


def _report_threshold(pairs: list[Pair], threshold: float, sizes: dict[str, int],
                      by_file: dict[str, str]) -> tuple[float, int]:
    """The similarity above which the report shows a pair: ``threshold``, or higher so that the
    code of the pairs it shows fits MAX_REPORT_CODE; and how many flagged pairs that leaves out."""
    size = {student: sizes[file] for file, student in by_file.items()}
    flagged = [p for p in pairs if p.similarity > threshold]
    budget = MAX_REPORT_CODE
    for pair in flagged:  # most similar first
        budget -= size[pair.student_a] + size[pair.student_b]
        if budget < 0:
            # This pair, and every one as similar or less, is left out of the report.
            return pair.similarity, sum(1 for p in flagged if p.similarity <= pair.similarity)
    return threshold, 0


# copydetect's page takes Bootstrap from a CDN; grading machines and TAs' laptops may be
# offline.  What the page uses of it, inline: the two hand-ins side by side, the tables, and
# the buttons that open a pair (Bootstrap's "collapse").
_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1em}.row{display:flex;gap:1em}.col,.col3{flex:1;min-width:0}
.d-flex{display:flex}.collapse:not(.show){display:none}.card{border:1px solid #ccc;border-radius:4px;padding:.5em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.2em .4em;text-align:left}
tr:nth-child(even){background:#f6f6f6}.btn{border:1px solid #888;border-radius:4px;background:#eee;cursor:pointer}
.code-display pre,pre{white-space:pre-wrap;font-size:small}
</style>"""
_SCRIPT_CODE = """
document.querySelectorAll("[data-bs-toggle=collapse]").forEach(b => b.addEventListener("click",
  () => document.querySelector(b.dataset.bsTarget).classList.toggle("show")));
"""
_SCRIPT = f"<script>{_SCRIPT_CODE}</script>"
# The report shows students' code (copydetect escapes it; file names are the kit's, see
# _file_name): its policy lets only the script above run, and nothing load but inline images.
CSP = policy(scripts=(sha256_source(_SCRIPT_CODE),))


def offline(html: str) -> str:
    """The report without its CDN stylesheet and script, and what it needs of them inline;
    its Content-Security-Policy first in its head."""
    html = re.sub(r'<link[^>]*cdn\.jsdelivr\.net[^>]*>', lambda _: _STYLE, html, count=1)
    html = re.sub(r'<script[^>]*cdn\.jsdelivr\.net[^>]*></script>', lambda _: _SCRIPT, html, count=1)
    return re.sub(r"<head>", lambda _: "<head>\n" + meta_csp(CSP), html, count=1, flags=re.IGNORECASE)


def _pairs(detector, by_file: dict[str, str]) -> list[Pair]:
    tests = {f: i for i, f in enumerate(detector.test_files)}
    refs = {f: j for j, f in enumerate(detector.ref_files)}
    shares = detector.similarity_matrix
    files = sorted(by_file, key=lambda f: by_file[f])
    pairs = []
    for n, file_a in enumerate(files):
        for file_b in files[n + 1:]:
            i, j = tests[file_a], refs[file_b]
            share_a, share_b = (float(x) for x in shares[i, j])
            # copydetect keeps the overlapping tokens of only one side, whichever file its
            # (varying) order compared first; each side's is its share times its size.
            tokens = max(_tokens(detector, file_a, share_a), _tokens(detector, file_b, share_b))
            # -1: a file copydetect could not fingerprint; it matched nothing.
            pairs.append(Pair(by_file[file_a], by_file[file_b], max(share_a, 0.0), max(share_b, 0.0),
                              max(tokens, 0)))
    pairs.sort(key=lambda p: (-p.similarity, -p.tokens, p.student_a, p.student_b))
    return pairs


def _tokens(detector, file: str, share: float) -> int:
    data = detector.file_data.get(file)
    return round(max(share, 0.0) * float(data.token_coverage)) if data is not None else 0


# -- output -------------------------------------------------------------------------------

CSV_COLUMNS = ["student_a", "student_b", "similarity", "share_a", "share_b", "tokens_overlapping", "above_threshold"]


def pairs_csv(pairs: list[Pair], threshold: float) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in pairs:
        writer.writerow([text_cell(p.student_a), text_cell(p.student_b), f"{p.similarity:.4f}",
                         f"{p.share_a:.4f}", f"{p.share_b:.4f}", p.tokens,
                         "yes" if p.similarity > threshold else "no"])
    return buf.getvalue()


def top_table(result: Result, top: int = DEFAULT_TOP) -> str:
    """The most similar pairs as a text table."""
    rows = [("student_a", "student_b", "similarity", "tokens", "")]
    for p in result.pairs[:max(top, 0)]:
        rows.append((safefs.printable(p.student_a, 40), safefs.printable(p.student_b, 40), f"{p.similarity:.0%}",
                     str(p.tokens), "above threshold" if p.similarity > result.threshold else ""))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
