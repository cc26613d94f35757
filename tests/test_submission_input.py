"""Nothing a hand-in contains stops anyone's grading, or its own.

The grading parent reads every handed-in folder before any sandbox runs:
odd names, deep trees, FIFOs, devices, huge sparse files, link loops and
malformed notebooks must each become a note (or a problem costing only the
file's own items), never an exception, a hang or a blown memory.  These
tests call the parent's readers directly; no sandbox is needed.
"""
import json
import os
import shutil
import signal
import stat
import time
import tracemalloc
from pathlib import Path

import nbformat
import pytest

from coursekit import safefs
from coursekit.autograde import record, run
from coursekit.autograde.submission import (
    MAX_LIBRARY_FILE,
    MAX_NOTEBOOK_BYTES,
    check_notebooks,
    fingerprint,
    read_submission,
)
from coursekit.samples import copy_release, hand_in_reference

from kitcourse import KIT1, LINEAR, LOSS, NAME
from kitcourse import ACT as ACTIVATION
BIG = 50 << 30  # sparse: no disk space, but any whole read would blow memory or take minutes


@pytest.fixture(autouse=True)
def never_hang():
    """A reader that opens a FIFO or a device, or loops, fails the test instead of hanging it."""
    def stop(*_):  # not an OSError (TimeoutError is one) nor an Exception: nothing may swallow it
        pytest.fail("blocked: a FIFO or device was opened, or a walk does not end", pytrace=True)
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def release(kit_course) -> Path:
    return kit_course.folder("release", NAME)


@pytest.fixture(scope="module")
def released_files(release) -> set[str]:
    return {str(p.relative_to(release)) for p in release.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def cells(release) -> dict[str, dict[str, str]]:
    """grade id -> released source of every autograded test cell, per notebook (what the grader
    compares with; a written answer's cell is the student's to fill in)."""
    out = {}
    for name in KIT1.notebooks:
        nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
        out[name] = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}
    return out


@pytest.fixture
def hand_in(release, kit_course, tmp_path) -> Path:
    """An honest, complete hand-in: the release with the reference library in it."""
    dest = copy_release(release, tmp_path / "submitted" / "student" / NAME)
    hand_in_reference(KIT1, kit_course.repo, dest)
    return dest


# -- building hostile folders ------------------------------------------------------------

def deep_tree(top: Path, depth: int) -> None:
    """top/d/d/.../d (depth levels) with a file at the bottom, built by descriptors:
    the path is longer than PATH_MAX."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
        os.close(os.open("bottom.py", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def remove_deep_tree(top: Path) -> None:
    """Iteratively: shutil.rmtree (and so pytest's cleanup) recurses and would fail on it."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while "d" in os.listdir(fd):
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                names = os.listdir(inner)
                for name in names:
                    if name != "d":
                        os.unlink(name, dir_fd=inner)
                if "d" in names:
                    os.rename("d", "up", src_dir_fd=inner, dst_dir_fd=fd)
            finally:
                os.close(inner)
            os.rmdir("d", dir_fd=fd)
            if "up" in os.listdir(fd):
                os.rename("up", "d", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


@pytest.fixture
def cleanup():
    tops = []
    yield tops.append
    for top in tops:
        if top.exists():
            remove_deep_tree(top)


def replace_with_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def replace_with_sparse(path: Path, size: int = BIG) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def undecodable_names(dest: Path, cleanup) -> set[str]:
    base = os.fsencode(dest)
    os.close(os.open(base + b"/\xff\xfe.py", os.O_CREAT | os.O_WRONLY, 0o644))
    os.mkdir(base + b"/kitlib/\xc3(")
    with open(base + b"/kitlib/\xc3(/x\x1b[31m\n.py", "wb") as f:
        f.write(b"print('hi')\n")
    return set()


def deep(dest: Path, cleanup) -> set[str]:
    deep_tree(dest / "deep", 3000)
    cleanup(dest / "deep")
    return set()


def fifos(dest: Path, cleanup) -> set[str]:
    replace_with_fifo(dest / LINEAR)
    replace_with_fifo(dest / "LossTester.ipynb")
    os.mkfifo(dest / "pipe")
    return {LINEAR}


def sparse_files(dest: Path, cleanup) -> set[str]:
    replace_with_sparse(dest / LOSS)
    replace_with_sparse(dest / "LinearTester.ipynb")
    replace_with_sparse(dest / "data.bin")
    return {LOSS}


def devices(dest: Path, cleanup) -> set[str]:
    (dest / LINEAR).unlink()
    try:  # /dev/zero: reading it whole never ends
        os.mknod(dest / LINEAR, stat.S_IFCHR | 0o644, os.makedev(1, 5))
    except (PermissionError, OSError):
        pytest.skip("cannot create device nodes here (not root)")
    (dest / "SGDTester.ipynb").unlink()
    os.mknod(dest / "SGDTester.ipynb", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    os.mknod(dest / "zero", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    return {LINEAR}


def link_loops(dest: Path, cleanup) -> set[str]:
    os.symlink("b", dest / "a")
    os.symlink("a", dest / "b")
    os.symlink(".", dest / "here")  # a folder that contains itself
    (dest / ACTIVATION).unlink()
    os.symlink("activation.py", dest / ACTIVATION)  # a link to itself
    (dest / "MLPTester.ipynb").unlink()
    os.symlink("MLPTester.ipynb", dest / "MLPTester.ipynb")
    return {ACTIVATION}


@pytest.fixture
def few_entries(monkeypatch):
    """Creating 10,000 files takes seconds: the cap is lowered to (well above) what a hand-in holds."""
    monkeypatch.setattr(safefs, "MAX_ENTRIES", 100)


def many_entries(dest: Path, cleanup) -> set[str]:
    crowd = dest / "crowd"
    crowd.mkdir()
    for k in range(safefs.MAX_ENTRIES + 500):
        os.close(os.open(crowd / f"f{k}", os.O_CREAT | os.O_WRONLY, 0o644))
    return set()


HOSTILE = [undecodable_names, deep, fifos, sparse_files, devices, link_loops, many_entries]


def read_everything(folder: Path, released_files, cells):
    sub = read_submission(KIT1, "student", folder, released_files)
    notes = check_notebooks(KIT1, folder, cells)
    return sub, notes, fingerprint(folder), fingerprint(folder)


# -- the library still earns its points; problems are sentences ----------------------

def test_an_honest_hand_in_has_no_notes(hand_in, released_files, cells):
    sub, notes, _, _ = read_everything(hand_in, released_files, cells)
    assert set(sub.files) == set(KIT1.student_files) and not sub.file_problems
    assert sub.notes == [] and notes == []


@pytest.mark.parametrize("build", HOSTILE, ids=lambda f: f.__name__)
def test_a_hostile_folder_is_read_not_crashed(build, hand_in, released_files, cells, cleanup, few_entries):
    broken = build(hand_in, cleanup)
    tracemalloc.start()
    start = time.monotonic()
    try:
        sub, notes, first, second = read_everything(hand_in, released_files, cells)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 60
    assert peak < 50 << 20, f"{peak >> 20} MB used to read the hand-in"
    assert first == second  # stable
    for rel in KIT1.student_files:  # only the file that is broken costs anything
        if rel in broken:
            assert rel not in sub.files and sub.file_problems[rel]
        else:
            assert rel in sub.files and rel not in sub.file_problems, sub.file_problems
    # Every sentence can be shown, stored as UTF-8 and printed on one line.
    for text in [*sub.notes, *notes, *(p for ps in sub.file_problems.values() for p in ps)]:
        assert text.isprintable(), repr(text)
        text.encode("utf-8")


def test_undecodable_and_control_character_names_are_shown_escaped(hand_in, released_files, cleanup):
    undecodable_names(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    [extra] = [n for n in sub.notes if n.startswith("extra files")]
    assert "\\xff\\xfe.py" in extra
    assert "kitlib/\\xc3(/x\\x1b[31m\\n.py" in extra


def test_a_tree_thousands_of_levels_deep_is_cut_off(hand_in, released_files, cleanup):
    deep(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert any(f"nested more than {safefs.MAX_DEPTH} levels deep" in n for n in sub.notes), sub.notes
    entries, problems = safefs.walk(hand_in)
    assert max(e.rel.count("/") + 1 for e in entries) == safefs.MAX_DEPTH
    assert len(problems) == 1


def test_fifos_are_never_opened(hand_in, released_files, cells, cleanup):
    fifos(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert sub.file_problems[LINEAR] == [f"{LINEAR}: is not a regular file (a FIFO)"]
    assert "extra files were ignored by the grader: pipe" in sub.notes
    assert "LossTester.ipynb: is not a regular file (a FIFO)" in check_notebooks(KIT1, hand_in, cells)


def test_huge_sparse_files_are_refused_by_their_size(hand_in, released_files, cells, cleanup):
    sparse_files(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert sub.file_problems[LOSS] == [f"{LOSS}: larger than {MAX_LIBRARY_FILE >> 20} MB"]
    assert "extra files were ignored by the grader: data.bin" in sub.notes
    assert f"LinearTester.ipynb: larger than {MAX_NOTEBOOK_BYTES >> 20} MB" in check_notebooks(KIT1, hand_in, cells)


def test_device_nodes_are_never_opened(hand_in, released_files, cells, cleanup):
    devices(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert sub.file_problems[LINEAR] == [f"{LINEAR}: is not a regular file (a device)"]
    assert "SGDTester.ipynb: is not a regular file (a device)" in check_notebooks(KIT1, hand_in, cells)


def test_link_loops_are_links_not_loops(hand_in, released_files, cells, cleanup):
    link_loops(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert "link" in sub.file_problems[ACTIVATION][0]
    assert "extra files were ignored by the grader: a, b, here" in sub.notes
    assert "MLPTester.ipynb: is a link; links are not accepted" in check_notebooks(KIT1, hand_in, cells)


def test_a_folder_of_too_many_files_is_cut_off(hand_in, released_files, cleanup, few_entries):
    many_entries(hand_in, cleanup)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert any("more than 100 files and folders; the rest were not read" in n for n in sub.notes), sub.notes
    assert set(sub.files) == set(KIT1.student_files)  # read by name, not found by the walk
    entries, _ = safefs.walk(hand_in)
    assert len(entries) == 100


def test_a_missing_or_linked_submission_folder_is_a_note(hand_in, released_files, cells, tmp_path):
    link = tmp_path / "linked"
    os.symlink(hand_in, link)
    for folder in (tmp_path / "nothing", link):
        sub = read_submission(KIT1, "student", folder, released_files)
        assert not sub.files and set(sub.file_problems) == set(KIT1.student_files)
        assert "no submission folder" in sub.notes[0]
        assert check_notebooks(KIT1, folder, cells) == []  # said once, by read_submission
        fingerprint(folder)


@pytest.mark.parametrize("source", ["-" * 100_000 + "1", "a" + ".b" * 100_000], ids=["unary", "attributes"])
def test_a_source_the_parser_chokes_on_costs_only_its_file(source, hand_in, released_files):
    """ast.parse gives up on these with MemoryError / RecursionError, not a SyntaxError."""
    (hand_in / LOSS).write_text(source)
    sub = read_submission(KIT1, "student", hand_in, released_files)
    assert "could not be checked against the rules" in sub.file_problems[LOSS][0]
    assert set(sub.file_problems) == {LOSS} and len(sub.files) == len(KIT1.student_files)


# -- notebooks of every shape ----------------------------------------------------------

NB = "LinearTester"


def graded_cell(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def edit(fn):
    def change(path: Path, gid: str) -> None:
        nb = json.loads(path.read_text())
        fn(nb, gid)
        path.write_text(json.dumps(nb))
    return change


def write(data: bytes):
    return lambda path, gid: path.write_bytes(data)


def nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return {"deep": value}


NOTEBOOKS = [
    ("metadata_is_a_list", edit(lambda nb, gid: graded_cell(nb, gid).__setitem__("metadata", [1, 2])), "was deleted"),
    ("nbgrader_is_a_string", edit(lambda nb, gid: graded_cell(nb, gid)["metadata"].__setitem__("nbgrader", "x")),
     "was deleted"),
    ("grade_id_is_a_number", edit(lambda nb, gid: graded_cell(nb, gid)["metadata"]["nbgrader"].__setitem__(
        "grade_id", 7)), "was deleted"),
    ("source_is_numbers", edit(lambda nb, gid: graded_cell(nb, gid).__setitem__("source", [1, 2, 3])),
     "was edited (its source is not text)"),
    ("source_is_a_dict", edit(lambda nb, gid: graded_cell(nb, gid).__setitem__("source", {"a": 1})),
     "was edited (its source is not text)"),
    ("grade_is_a_list", edit(lambda nb, gid: graded_cell(nb, gid)["metadata"]["nbgrader"].__setitem__("grade", [])),
     "was re-flagged"),
    ("a_cell_is_a_number", edit(lambda nb, gid: nb["cells"].append(42)), "1 cell(s) are not notebook cells"),
    ("cells_is_a_dict", edit(lambda nb, gid: nb.__setitem__("cells", {})), "not a valid notebook"),
    ("no_cells", edit(lambda nb, gid: nb.pop("cells")), "not a valid notebook"),
    ("top_level_array", write(b"[]"), "not a valid notebook"),
    ("top_level_null", write(b"null"), "not a valid notebook"),
    ("json_100000_deep", write(b"[" * 100_000 + b"]" * 100_000),
     "not a valid notebook (its JSON is nested too deeply)"),
    ("json_100000_deep_unclosed", write(b'{"cells": ' + b"[" * 100_000), "not a valid notebook"),
    ("not_utf8", write(b'{"cells": [], "x": "\xff\xfe"}'), "not a valid notebook (not UTF-8 text, byte 20)"),
    ("not_json", write(b"\x00\x01garbage"), "not a valid notebook"),
    ("empty", write(b""), "not a valid notebook"),
    ("lone_surrogate_source", edit(lambda nb, gid: graded_cell(nb, gid).__setitem__("source", "\ud800")),
     "was edited"),
]


@pytest.mark.parametrize("change, words", [(c, w) for _, c, w in NOTEBOOKS], ids=[n for n, _, _ in NOTEBOOKS])
def test_a_malformed_notebook_is_a_note_for_that_notebook(change, words, hand_in, released_files, cells):
    gid = next(iter(cells[NB]))
    change(hand_in / f"{NB}.ipynb", gid)
    notes = check_notebooks(KIT1, hand_in, cells)
    assert notes and all(n.startswith(f"{NB}.ipynb: ") for n in notes), notes
    assert any(words in n for n in notes), notes
    assert all(n.isprintable() for n in notes)
    sub = read_submission(KIT1, "student", hand_in, released_files)  # the library still earns its points
    assert set(sub.files) == set(KIT1.student_files) and not sub.file_problems


def test_deep_but_parseable_metadata_is_harmless(hand_in, cells):
    gid = next(iter(cells[NB]))
    edit(lambda nb, g: graded_cell(nb, g)["metadata"]["nbgrader"].update(nested(500)))(hand_in / f"{NB}.ipynb", gid)
    assert check_notebooks(KIT1, hand_in, cells) == []


# -- fingerprint -------------------------------------------------------------------------

def test_the_fingerprint_changes_with_any_byte_and_any_new_file(hand_in):
    before = fingerprint(hand_in)
    path = hand_in / LINEAR
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])  # same size
    assert fingerprint(hand_in) != before
    path.write_bytes(data)
    assert fingerprint(hand_in) == before
    (hand_in / "kitlib" / "nn" / "notes.txt").write_text("")
    assert fingerprint(hand_in) != before
    (hand_in / "kitlib" / "nn" / "notes.txt").unlink()
    assert fingerprint(hand_in) == before
    (hand_in / LINEAR).rename(hand_in / "linear.py")
    assert fingerprint(hand_in) != before


def test_the_fingerprint_ignores_caches_and_where_the_folder_is(hand_in, tmp_path):
    before = fingerprint(hand_in)
    (hand_in / "kitlib" / "__pycache__").mkdir(exist_ok=True)
    (hand_in / "kitlib" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert fingerprint(hand_in) == before
    assert fingerprint(shutil.copytree(hand_in, tmp_path / "moved")) == before


def test_the_fingerprint_sees_odd_entries(hand_in, cleanup):
    seen = {fingerprint(hand_in)}
    for build in (lambda: os.mkfifo(hand_in / "pipe"),
                  lambda: os.close(os.open(os.fsencode(hand_in) + b"/\xff.py", os.O_CREAT | os.O_WRONLY)),
                  lambda: os.close(os.open(os.fsencode(hand_in) + b"/\xfe.py", os.O_CREAT | os.O_WRONLY)),
                  lambda: os.symlink("nowhere", hand_in / "link"),
                  lambda: (deep_tree(hand_in / "deep", 100), cleanup(hand_in / "deep"))):
        build()
        seen.add(fingerprint(hand_in))
    assert len(seen) == 6


def test_a_huge_file_is_fingerprinted_without_reading_it(hand_in):
    """Larger than any cap the grader reads with, so every reader refuses it unread: the fact that
    it is larger is all the fingerprint holds of it (issue 17: no longer its ends, size and mtime)."""
    big = hand_in / "data.bin"
    replace_with_sparse(big)
    tracemalloc.start()
    start = time.monotonic()
    try:
        before = fingerprint(hand_in)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 10 and peak < 50 << 20
    with open(big, "r+b") as f:  # one byte near the end: nothing any reader would see
        f.seek(BIG - 10)
        f.write(b"x")
    assert fingerprint(hand_in) == before
    replace_with_sparse(big, 1 << 20)  # small enough to be read: hashed whole
    assert fingerprint(hand_in) != before


def test_the_fingerprint_includes_the_graders_own_sources(hand_in, kit_course, monkeypatch, tmp_path):
    from coursekit.autograde import inputs
    from coursekit.course import Course

    kit = tmp_path / "coursekit"
    shutil.copytree(inputs.KIT, kit, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(inputs, "KIT", kit)
    course = Course(kit_course.root)
    before = fingerprint(hand_in, KIT1, inputs.grader_digest(KIT1, course))
    with open(kit / "runtime" / "checks" / "__init__.py", "a") as f:
        f.write("\n# changed\n")
    assert fingerprint(hand_in, KIT1, inputs.grader_digest(KIT1, course)) != before


# -- safefs ------------------------------------------------------------------------------

def test_read_capped_reads_at_most_the_cap(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert safefs.read_capped(tmp_path, "f", 100) == b"x" * 100
    problem = safefs.read_capped(tmp_path, "f", 99)
    assert isinstance(problem, safefs.Problem) and problem.kind == "large"
    assert safefs.read_capped(tmp_path, "../f", 100).kind == "missing"
    assert safefs.read_capped(tmp_path, "g", 100).message == "g: missing (was it renamed or deleted?)"


def test_a_link_anywhere_in_the_path_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    os.symlink("real", tmp_path / "alias")
    problem = safefs.read_capped(tmp_path, "alias/f", 100)
    assert problem.kind == "link" and "alias is a link" in problem.message
    assert safefs.read_capped(tmp_path.parent / tmp_path.name, "real/f", 100) == b"x"


def test_a_file_swapped_for_a_fifo_after_the_check_is_not_read(tmp_path, monkeypatch):
    """lstat saw a regular file; by the time it is opened it is a FIFO with no writer."""
    path = tmp_path / "f"
    path.write_text("x")
    real_open = os.open

    def swapping_open(name, flags, *args, **kwargs):
        if name == "f" and kwargs.get("dir_fd") is not None:
            replace_with_fifo(path)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(safefs.os, "open", swapping_open)
    problem = safefs.read_capped(tmp_path, "f", 100)
    assert problem.kind == "changed" and problem.message == "f: changed while being read"


def test_walk_needs_neither_recursion_nor_short_paths(tmp_path, cleanup):
    import sys

    deep_tree(tmp_path / "deep", 300)  # 600-character paths
    cleanup(tmp_path / "deep")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)
    try:
        entries, problems = safefs.walk(tmp_path / "deep", max_depth=1000)
    finally:
        sys.setrecursionlimit(limit)
    assert problems == [] and len(entries) == 301 and entries[-1].rel.endswith("d/bottom.py")


# -- the run goes on ---------------------------------------------------------------------

def test_a_corrupt_previous_result_means_grade_again(kit_copy):
    results = kit_copy.folder("autograded", NAME, "someone") / "results.json"
    results.parent.mkdir(parents=True)
    # Well-formed and with the right fingerprint, but not for this assignment's items.
    current = fingerprint(kit_copy.folder("submitted", NAME, "someone"))
    other_items = {"extra_data": {"result": {"student": "someone", "assignment": NAME, "items": [], "notes": [],
                                             "fingerprint": current}}}
    for text in ("[" * 100_000, '{"extra_data": {"result": []}}', "\udcff", "null", json.dumps(other_items)):
        results.write_text(text, errors="surrogateescape")
        assert run._unchanged(kit_copy, KIT1, "someone", force=False) is None


def test_one_student_the_kit_cannot_look_at_does_not_stop_the_run(kit_copy, monkeypatch, capsys):
    """Both students are settled before any worker starts: one unchanged, one whose fingerprint fails."""
    from coursekit.autograde.grader import GraderConfig
    from coursekit.results import ItemResult, SubmissionResult
    from coursekit.autograde.inputs import run_digest
    from coursekit.feedback import write_outputs

    course = kit_copy
    config = GraderConfig(require_sandbox=False, use_sandbox=False)
    inputs = run_digest(KIT1, course, config)
    for student in ("bad", "good"):
        copy_release(course.folder("release", NAME), course.folder("submitted", NAME, student))
        previous = SubmissionResult(student, NAME, [ItemResult(i.grade_id, 0, i.points, "earlier")
                                                     for i in KIT1.auto_items],
                                    [], fingerprint(course.folder("submitted", NAME, student), KIT1, inputs),
                                    written={i.grade_id: "unanswered" for i in KIT1.manual_items})
        write_outputs(previous, course.folder("autograded", NAME, student), course.folder("feedback", NAME, student))

    def failing(folder, *args):
        if folder.parent.name == "bad":
            raise OSError("the disk went away")
        return fingerprint(folder, *args)

    monkeypatch.setattr(run, "fingerprint", failing)
    summary = run.autograde(KIT1, course, students=["bad", "good"], progress=False, config=config)
    assert summary.skipped == ["good"] and summary.graded == []
    assert summary.failed == {"bad": "could not be checked for changes: OSError: the disk went away"}
    assert "bad: could not be checked for changes: OSError: the disk went away" in capsys.readouterr().err


def test_only_real_notebooks_are_copied_for_formgrader(hand_in, tmp_path):
    dest = tmp_path / "autograded"
    dest.mkdir()
    (dest / "LossTester.ipynb").write_text("stale")
    replace_with_fifo(hand_in / "LossTester.ipynb")
    replace_with_sparse(hand_in / "LinearTester.ipynb")
    (hand_in / "MLPTester.ipynb").unlink()
    os.symlink("/etc/passwd", hand_in / "MLPTester.ipynb")
    record._copy_notebooks(hand_in, dest, KIT1)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        f"{n}.ipynb" for n in KIT1.notebooks if n not in ("LossTester", "LinearTester", "MLPTester"))
    assert (dest / "SGDTester.ipynb").read_bytes() == (hand_in / "SGDTester.ipynb").read_bytes()
