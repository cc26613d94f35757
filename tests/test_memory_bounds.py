"""The grading process's memory is bounded by the kit, not by what a student hands in.

The grading parent parses every handed-in notebook and turns the sandbox's answers into
arrays; ``course similarity`` reads every student's code.  Each attack here is built to make
one of them build far more in memory than the hand-in's size: notebooks of millions of tiny
JSON values (within the file-size cap), answers of one-byte numbers that become float64, a
class of huge hand-ins for the similarity report.  Each is measured in a fresh process, by
its own high-water mark of resident memory (VmHWM: getrusage's ru_maxrss of a child starts at
the parent's size, pytest's here), and each must be reported with a sentence naming the file
while everything else is graded as usual.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import HW1, REPO, copy_course
from kitcourse import ACT, KIT1, NAME

from coursekit.autograde import sandbox
from coursekit.autograde.submission import MAX_NOTEBOOK_BYTES
from coursekit.samples import copy_release, hand_in_reference

MB = 1 << 20
# Within the file-size cap, so only the parse can refuse them.
SIZE = MAX_NOTEBOOK_BYTES - 4096
# What reading a notebook may add to a process's peak: the kit's budget for one parse (128 MB,
# of which real objects are at most about half) and the scan's copies of the raw bytes.  On
# main, 20 MB of empty cells alone added ~530 MB.
READ_BOUND_MB = 160


# In a fresh process: its peak resident memory so far, in MB.
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def run_python(code: str, timeout: float = 300) -> dict:
    """Run code in a fresh interpreter (the kit first on its path, as pytest has it), with
    ``peak_mb()`` defined; it prints one JSON object as its last line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", PEAK + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO / "tests")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- notebooks: each attack read on its own ---------------------------------------------

def _fill(head: bytes, unit: bytes, tail: bytes):
    return lambda: head + unit * ((SIZE - len(head) - len(tail)) // len(unit)) + tail


def _keys(head: bytes, tail: bytes):
    """As many different keys (and a float each) as fit."""
    def build() -> bytes:
        keys, size, k = [], len(head) + len(tail), 0
        while size < SIZE - 32:
            keys.append(b'"%x":1.5,' % k)
            size, k = size + len(keys[-1]), k + 1
        return head + b"".join(keys) + tail
    return build


def _notebook(cells: list, **extra) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **extra}).encode()


ATTACKS = {
    # name: (what makes the notebook's bytes, whether the kit refuses it)
    "millions_of_empty_cells": (_fill(b'{"cells": [', b"{},", b"{}]}"), True),
    "millions_of_empty_lists": (_fill(b'{"cells": [', b"[],", b"[]]}"), True),
    "one_float_lists": (_fill(b'{"cells": [', b"[1.5],", b"[]]}"), True),
    "many_keys": (_keys(b'{"cells": [], "metadata": {', b'"k": 0}}'), True),
    "huge_outputs_array": (_fill(b'{"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [',
                                 b"{},", b"{}]}]}"), True),
    "giant_cell_metadata": (_fill(b'{"cells": [{"cell_type": "markdown", "source": "", "metadata": {"x": [',
                                  b"0.5,", b"0]}}]}"), True),
    "deep_nesting": (_fill(b'{"cells": [], "x": ', b"[", b""), True),
    "huge_integer": (_fill(b'{"cells": [], "x": ', b"9", b"}"), False),
    "huge_exponent": (lambda: b'{"cells": [], "x": 1e999999}', False),
}


@pytest.fixture(scope="module")
def attack_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebooks")
    for name, (make, _) in ATTACKS.items():
        (folder / f"{name}.ipynb").write_bytes(make())
    return folder


def read_notebook(folder: Path, rel: str) -> dict:
    """read_cells in a fresh process: what it gave, and what it added to the process's peak."""
    return run_python(f"""
        import json
        from pathlib import Path
        from coursekit.autograde.submission import read_cells
        before = peak_mb()
        cells, problem = read_cells(Path({str(folder)!r}), {rel!r})
        added = peak_mb() - before
        print(json.dumps({{"cells": len(cells), "problem": problem, "added_mb": added}}))
    """)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_notebook_built_to_blow_the_parse_is_bounded_and_reported(attack_folder, name):
    make, refused = ATTACKS[name]
    assert (attack_folder / f"{name}.ipynb").stat().st_size <= MAX_NOTEBOOK_BYTES
    got = read_notebook(attack_folder, f"{name}.ipynb")
    assert got["added_mb"] < READ_BOUND_MB, got
    if refused:
        assert got["cells"] == 0 and got["problem"].startswith(f"{name}.ipynb: "), got
        assert got["problem"].isprintable()
    else:  # read, or refused as invalid JSON: either way named and cheap
        assert got["problem"] is None or got["problem"].startswith(f"{name}.ipynb: not a valid notebook"), got


def test_the_refusal_says_why_and_what_to_do(attack_folder):
    got = read_notebook(attack_folder, "millions_of_empty_cells.ipynb")
    assert "too large to read" in got["problem"] and "clear its outputs" in got["problem"], got


HONEST_LARGE = {
    # 14 MB of PNG (base64) and a rocket in a markdown cell: its text is 4 bytes a character.
    "plots": lambda: _notebook([{"cell_type": "markdown", "metadata": {}, "source": "Results \U0001F680"},
                        {"cell_type": "code", "metadata": {}, "source": "plot()", "execution_count": 1,
                         "outputs": [{"output_type": "display_data", "metadata": {},
                                      "data": {"image/png": base64.b64encode(os.urandom(10 * MB)).decode()}}]}]),
    # 400,000 printed lines of a training loop, and 2,000 code cells.
    "long_training": lambda: _notebook(
        [{"cell_type": "code", "metadata": {}, "source": [f"x{k} = {k}\n", "print(x)\n"], "execution_count": k,
          "outputs": []} for k in range(2000)] +
        [{"cell_type": "code", "metadata": {}, "source": "train()", "execution_count": 1,
          "outputs": [{"output_type": "stream", "name": "stdout",
                       "text": [f"epoch {k}: loss {1 / (k + 1):.6f}, accuracy {k % 100}%\n"
                                for k in range(400_000)]}]}]),
}


@pytest.mark.parametrize("name", list(HONEST_LARGE))
def test_a_large_honest_notebook_is_still_read(tmp_path, name):
    data = HONEST_LARGE[name]()
    assert len(data) <= MAX_NOTEBOOK_BYTES
    (tmp_path / f"{name}.ipynb").write_bytes(data)
    got = read_notebook(tmp_path, f"{name}.ipynb")
    assert got["problem"] is None and got["cells"] == len(json.loads(data)["cells"]), got


# -- a whole grading: hostile notebooks next to an honest library ---------------------------

needs_sandbox = pytest.mark.skipif(os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available(),
                                   reason="bubblewrap is not usable here (apt-get install bubblewrap)")


@pytest.fixture(scope="module")
def course(kit_course, tmp_path_factory):
    """The kit course (tests/kitcourse.py): no PyTorch in the grader, so its baseline is small
    and what hostile answers add is not hidden under it."""
    return copy_course(kit_course, tmp_path_factory.mktemp("memory") / "course")


def hand_in(course, student: str) -> Path:
    dest = copy_release(course.folder("release", NAME), course.folder("submitted", NAME, student))
    hand_in_reference(KIT1, course.root, dest)
    return dest


def grade(course, student: str) -> dict:
    """Grade one student in a fresh process: score, notes, written-answer status and the peak."""
    return run_python(f"""
        import json
        from kitcourse import KIT1
        from coursekit.course import Course
        from coursekit.autograde.grader import Grader, GraderConfig
        result = Grader(KIT1, Course({str(course.root)!r}), GraderConfig.for_assignment(KIT1)).grade({student!r})
        print(json.dumps({{"score": result.score, "notes": result.notes, "written": result.written,
                           "lost": sorted(i.grade_id for i in result.items if not i.passed),
                           "reasons": {{i.grade_id: i.reason for i in result.items}},
                           "peak_mb": peak_mb()}}))
    """)


@pytest.fixture(scope="module")
def honest(course) -> dict:
    hand_in(course, "honest")
    result = grade(course, "honest")
    # The written item is the TA's: the grader scores only the autograded points.
    assert result["score"] == KIT1.auto_points and result["notes"] == [], result
    assert result["written"] == {"why": "answered"}, result
    return result


@needs_sandbox
def test_notebooks_of_millions_of_values_cost_their_notebooks_only(course, honest):
    dest = hand_in(course, "million_cells")
    attacks = {"LinearTester": "millions_of_empty_cells", "LossTester": "huge_outputs_array",
               "ActivationTester": "one_float_lists", "MLPTester": "many_keys"}
    for notebook, attack in attacks.items():
        (dest / f"{notebook}.ipynb").write_bytes(ATTACKS[attack][0]())
    result = grade(course, "million_cells")
    # On hw1 (PyTorch loaded) the four notebooks once took the grader's peak from ~290 MB to ~2 GB.
    assert result["peak_mb"] < honest["peak_mb"] + 100, (result["peak_mb"], honest["peak_mb"])
    # The library is honest: every item the notebooks do not hold is earned; MLPTester's
    # unreadable notebook also loses its cell item, slope, whose code lives in that notebook.
    assert result["score"] == KIT1.auto_points - KIT1.item("slope").points, result["reasons"]
    for notebook in attacks:
        assert any(n.startswith(f"{notebook}.ipynb: too large to read") for n in result["notes"]), result["notes"]


# -- answers: what crosses as one byte a number is not made eight ---------------------------

def read_channel(frames: list[tuple[str, str, str, int]]) -> dict:
    """grader._read_channel in a fresh process on answer frames (item, case, dtype, count):
    what it made of each, and what it added to the process's peak."""
    import tempfile

    import numpy as np

    from coursekit.autograde import protocol

    # Built here and read there in one allocation, as the sandbox hands the grader its channel:
    # building it in the fresh process would raise its peak above any copy _read_channel makes.
    with tempfile.NamedTemporaryFile(suffix=".channel") as fh:
        fh.write(protocol.encode({"type": "ready"}))
        for item, case, dtype, count in frames:
            fh.write(protocol.encode({"type": "answer", "item": item, "case": case}, {"y": np.zeros(count, dtype)}))
        fh.flush()
        return _read_channel_file(fh.name, frames)


def _read_channel_file(path: str, frames: list[tuple[str, str, str, int]]) -> dict:
    return run_python(f"""
        import json
        from pathlib import Path
        from coursekit.autograde.grader import _read_channel
        frames = {frames!r}
        data = Path({path!r}).read_bytes()
        plans = {{item: {{case: None}} for item, case, _, _ in frames}}
        before = peak_mb()
        answers, ready = _read_channel(data, plans)
        added = peak_mb() - before
        print(json.dumps({{"ready": ready, "added_mb": added,
                           "answers": {{k: v if isinstance(v, str) else [str(v["y"].dtype), v["y"].size]
                                       for k, v in answers.items()}}}}))
    """)


def test_one_byte_answers_are_not_widened_beyond_the_answer_budget():
    from coursekit.autograde.grader import MAX_ANSWER_BYTES, MAX_CHANNEL_BYTES

    # Eight answers of 8 MB of uint8 / bool: the 64 MB the channel carries; 512 MB as float64.
    count = MAX_CHANNEL_BYTES // 8 - 4096
    frames = [(f"item{k}", "visible", "|u1" if k % 2 else "|b1", count) for k in range(8)]
    got = read_channel(frames)
    # A refused answer is sized from its frame's layout and never copied; once, 512 MB of float64.
    assert got["added_mb"] < 4, got
    assert got["ready"]
    for key, answer in got["answers"].items():
        assert answer == "the result is larger than any answer can be", (key, answer)
    # An answer of uint8 that is within the budget as float64 is taken, as float64.
    small = MAX_ANSWER_BYTES // 8
    assert read_channel([("item", "visible", "|u1", small)])["answers"] == {"item.visible": ["float64", small]}


def test_an_answer_refused_as_too_large_is_never_copied():
    from coursekit.autograde.grader import MAX_CHANNEL_BYTES

    # One frame of nearly the whole channel: copying its arrays before refusing them held the
    # channel twice (the grader's peak grew by 2 x 64 MB under hostile answers, not 64 MB).
    got = read_channel([("item", "visible", "|u1", MAX_CHANNEL_BYTES - 4096)])
    assert got["answers"] == {"item.visible": "the result is larger than any answer can be"}, got
    assert got["added_mb"] < 4, got


def test_widened_answers_together_stay_within_the_channel_budget():
    from coursekit.autograde.grader import MAX_ANSWER_BYTES, MAX_CHANNEL_BYTES

    # Sixteen uint8 answers, each at the answer budget once widened: 256 MB of float64 in all.
    count = MAX_ANSWER_BYTES // 8
    got = read_channel([(f"item{k}", "visible", "|u1", count) for k in range(16)])
    assert got["added_mb"] < MAX_CHANNEL_BYTES / MB + 64, got
    taken = [k for k, v in got["answers"].items() if not isinstance(v, str)]
    assert len(taken) == MAX_CHANNEL_BYTES // MAX_ANSWER_BYTES, got["answers"]


# Student code in the activations sends, through its own worker's pipe, an answer of 15 MB of
# uint8 for the item's visible case (the harness passes it on: it is a valid frame) and exits
# before the check's own answer.  Every item using an activation loses it; on main each such
# answer became 120 MB of float64 in the grader.
FORGE_BYTES = '''

def _forge():
    _B = getattr(np, "_" * 2 + "builtins" + "_" * 2)
    _I = _B["_" * 2 + "import" + "_" * 2]
    _os, _json, _struct = _I("os"), _I("json"), _I("struct")
    payload = bytes(15 << 20)
    head = _json.dumps({"type": "answer", "case": "visible", "payload": len(payload),
                        "arrays": {"y": ["|u1", [len(payload)]]}}).encode()
    frame = _struct.pack(">I", len(head)) + head + payload
    for fd in range(3, 64):
        try:
            _os.write(fd, frame)
        except OSError:
            pass
    _os._exit(0)
'''


@needs_sandbox
def test_answers_of_one_byte_numbers_from_student_code_cost_only_their_items(course, honest):
    dest = hand_in(course, "uint8_answers")
    activation = dest / ACT
    text = activation.read_text()
    assert text.count("        self.H = H\n") >= 3
    activation.write_text(text.replace("        self.H = H\n", "        self.H = H\n        _forge()\n") + FORGE_BYTES)
    result = grade(course, "uint8_answers")
    lost = set(result["lost"])
    # The items that run activation.py (tests/kitcourse.py's declaration), worked out by hand.
    assert lost and lost <= {"sigmoid", "tanh", "relu", "mlp0", "mlp1"}, result["reasons"]
    assert result["score"] == KIT1.auto_points - sum(KIT1.item(g).points for g in lost)
    # The stated bound (docs/security.md, class 6): hostile answers add at most the channel the
    # sandbox hands back (64 MB), held once, and a little working memory.  Before answers were
    # counted at their float64 size the peak grew by ~500 MB; while refused answers were copied
    # and the channel copied to bytes, by ~125 MB (on hw1, PyTorch's ~290 MB hid it).
    from coursekit.autograde.grader import MAX_CHANNEL_BYTES

    assert result["peak_mb"] < honest["peak_mb"] + MAX_CHANNEL_BYTES / MB + 16, (result["peak_mb"], honest["peak_mb"])


# -- the similarity report ------------------------------------------------------------------

def huge_code(student: str, size: int) -> str:
    """``size`` bytes of valid, varied Python."""
    lines, total, k = [], 0, 0
    while total < size:
        line = f"def {student}_{k}(x, y):\n    return x * {k} + y ** {k % 7} - {k % 13}\n"
        lines.append(line)
        total, k = total + len(line), k + 1
    return "".join(lines)


def similarity_course(root: Path, colluders: int):
    """reference, alice and bob honest; ``colluders`` students who hand in the same 23 MB of code:
    every library file at the grader's 1 MB cap, and 3 MB of code cells in each notebook."""
    from test_similarity import build_course

    big = [f"big{k}" for k in range(colluders)]
    course = build_course(root, students=("reference", "alice", "bob", *big), solutions={b: "blank" for b in big})
    if colluders:
        code = huge_code("shared", 1 << 20)
        cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                  "source": huge_code(f"cell{k}", 100 << 10)} for k in range(30)]
        for k in range(colluders):
            dest = course.folder("submitted", "hw1", f"big{k}")
            for rel in HW1.student_files:
                (dest / rel).write_text(code[:(1 << 20) - 64])
            for notebook in HW1.notebooks:
                (dest / f"{notebook}.ipynb").write_bytes(_notebook(cells))
    return course


def compare(course) -> dict:
    return run_python(f"""
        import json
        from coursekit import similarity
        from coursekit.course import Course
        course = Course({str(course.root)!r})
        before = peak_mb()
        result = similarity.compare(course.assignment("hw1"), course)
        print(json.dumps({{"problems": result.problems, "peak_mb": peak_mb(), "added_mb": peak_mb() - before,
                           "pairs": [[p.student_a, p.student_b, p.similarity] for p in result.pairs]}}))
    """, timeout=900)


def test_hand_ins_of_20_mb_of_code_are_compared_up_to_a_cap(tmp_path):
    from coursekit import similarity

    honest = compare(similarity_course(tmp_path / "honest", 0))
    course = similarity_course(tmp_path / "hostile", 3)
    got = compare(course)
    # copydetect keeps ~180 bytes per character compared: on main each colluder was compared
    # with 4 MB of code (~2 GB and many minutes).
    assert got["peak_mb"] < honest["peak_mb"] + 100, (got["peak_mb"], honest["peak_mb"])
    for k in range(3):
        assert any(p.startswith(f"big{k}: ") and "skipped" in p for p in got["problems"]), got["problems"]
        assert (course.root / "similarity/hw1/code" / f"big{k}.py").stat().st_size <= similarity.MAX_CODE
    # The colluders are found, and the honest pairs score as they did.
    top = {tuple(sorted(p[:2])) for p in got["pairs"][:3]}
    assert top == {("big0", "big1"), ("big0", "big2"), ("big1", "big2")}, got["pairs"][:4]
    assert {tuple(p[:2]): p[2] for p in honest["pairs"]} == \
        {tuple(p[:2]): p[2] for p in got["pairs"] if not {"big0", "big1", "big2"} & set(p[:2])}


def test_everyones_code_is_capped_in_all_the_largest_cut_first(tmp_path, monkeypatch):
    from coursekit import similarity

    course = similarity_course(tmp_path / "course", 0)
    sizes = {s: len(similarity.extract(HW1, course.folder("submitted", "hw1", s), s).text.encode())
             for s in ("reference", "alice", "bob")}
    smallest = min(sizes, key=sizes.get)
    # Room for the smallest hand-in whole and a little more than that for each of the others.
    total = sizes[smallest] + 2 * (sizes[smallest] + 500)
    assert all(size > sizes[smallest] + 500 for s, size in sizes.items() if s != smallest)
    monkeypatch.setattr(similarity, "MAX_TOTAL_CODE", total, raising=False)
    result = similarity.compare(course.assignment("hw1"), course)
    files = {p.stem: p.stat().st_size for p in (course.root / "similarity/hw1/code").glob("*.py")}
    assert sum(files.values()) <= total, files
    assert files[smallest] == sizes[smallest]
    cut = sorted(set(sizes) - {smallest})
    assert [p.split(":")[0] for p in result.problems if "was compared" in p] == cut, result.problems


def test_the_report_shows_the_most_similar_pairs_that_fit(tmp_path, monkeypatch):
    from test_similarity import build_course

    from coursekit import similarity

    # Two planted copies of the reference: three pairs above the threshold.
    course = build_course(tmp_path / "course", students=("reference", "alice", "copier", "copier2"),
                          solutions={"copier2": "copier"})
    sizes = {s: len(similarity.extract(HW1, course.folder("submitted", "hw1", s), s).text.encode())
             for s in ("reference", "copier", "copier2")}
    monkeypatch.setattr(similarity, "MAX_REPORT_CODE", max(sizes.values()) * 2 + 10, raising=False)
    result = similarity.compare(course.assignment("hw1"), course)
    assert [(p.student_a, p.student_b) for p in result.flagged] == \
        [("copier", "copier2"), ("copier", "reference"), ("copier2", "reference")], result.pairs
    html = (course.root / "similarity/hw1/report.html").read_text()
    # The most similar pair is shown; the other two are in pairs.csv and said to be left out.
    assert html.count("Test file: ") == 1 and "copier2" in html
    assert [p for p in result.problems if "pairs.csv" in p] == [
        "the report shows the most similar pairs whose code fits "
        f"{similarity.MAX_REPORT_CODE >> 10} KB; 2 more above the threshold are only in pairs.csv"], result.problems


# -- hand-in zips: the directory is sized before it is read ----------------------------------

def zip_of_empty_members(count: int, claimed: int | None = None) -> bytes:
    """A valid zip of ``count`` empty stored members (its end record may claim ``claimed``)."""
    import struct
    import zlib

    local, central, offset = [], [], 0
    crc = zlib.crc32(b"")
    for k in range(count):
        name = b"%x" % k
        local.append(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0) + name)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, 0, 0, len(name),
                                   0, 0, 0, 0, 0, offset) + name)
        offset += len(local[-1])
    directory = b"".join(central)
    n = min(count, 0xFFFF) if claimed is None else claimed  # 0xFFFF: "more than this field holds"
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(directory), offset, 0)
    return b"".join(local) + directory + end


@pytest.mark.parametrize("claimed", [None, 1], ids=["counted", "count_lies"])
def test_a_zip_of_a_million_empty_members_is_refused_before_its_directory_is_read(tmp_path, claimed):
    from coursekit.runtime.handin.bundle import MAX_ZIP_BYTES

    data = zip_of_empty_members(600_000, claimed)
    assert len(data) < MAX_ZIP_BYTES
    (tmp_path / "alice.zip").write_bytes(data)
    got = run_python(f"""
        import json
        from pathlib import Path
        from kitcourse import KIT1
        from coursekit.runtime.handin.bundle import inspect_zip
        from coursekit.runtime.handin.spec import spec_of
        before = peak_mb()
        check = inspect_zip(Path({str(tmp_path / "alice.zip")!r}), spec_of(KIT1))
        print(json.dumps({{"refusal": check.refusal, "added_mb": peak_mb() - before}}))
    """)
    # On main zipfile built 600,000 entries first: ~+320 MB.
    assert got["added_mb"] < 32, got
    assert got["refusal"].startswith("alice.zip: ") and "more than" in got["refusal"], got
