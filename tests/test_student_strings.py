"""Student strings never stop a result being written (issue 17, class 7).

A student controls text that reaches the result: their exception messages
(lone surrogates, terminal escapes), names in their folder (bytes that are not
UTF-8), and, through nbgrader's exchange, ``timestamp.txt`` (any zone name,
path or year).  Every graded student still gets ``results.json``, the
feedback page (and the exchange's notebook pages) and a gradebook row; the
run's exit code reflects only the kit's failures; an unreadable hand-in time
is a note ("unknown"), never a crash.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from kitcourse import ACT, KIT1, auto_totals

from coursekit.autograde import sandbox
from coursekit.results import SubmissionResult
from coursekit.collect import parse_timestamp
from coursekit.feedback import write_outputs
from coursekit.gradebook import item_scores
from coursekit.samples import copy_release, hand_in_reference

NEEDS_SANDBOX = pytest.mark.skipif(os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available(),
                                   reason="bubblewrap is not usable here")
TANH_FORWARD = "        self.A = np.tanh(H)"
# Tanh.forward raises with lone surrogates and a terminal escape in its message: tanh (and only it) fails.
RAISES = "        raise ValueError('\\udc80 ' + chr(0xdcff) + ' \\x1b[2J')\n"
# Sigmoid.forward prints lone surrogates (which its own print refuses to encode: sigmoid fails).
PRINTS = "        print('\\ud800', chr(0xdc80))\n"
SIGMOID_FORWARD = "        e = np.exp(-np.abs(H))"
BAD_TIMES = {  # student -> their timestamp.txt, as nbgrader submit would have left it if they had edited it
    "zone_path": "2026-01-01 12:00:00.000000 Europe/../../etc",
    "zone_unknown": "2026-01-01 12:00:00.000000 Nowhere/Atlantis",
    "zone_file": "2026-01-01 12:00:00.000000 /etc/passwd",
    "year_one": "0001-01-01 00:00:00.000000 Asia/Tokyo",  # before UTC's calendar begins
    "huge_year": "99999-01-01 12:00:00.000000 UTC",
    "offset": "2026-01-01 12:00:00.000000 +99999999",
    "garbage": "\x1b[2Jnot a time \udcff",
}
SECRET = "ab" * 64  # nbgrader submit's submission_secret.txt: the exchange's feedback pages are written


def _reference(course, student: str):
    dest = copy_release(course.folder("release", "kit1"), course.folder("submitted", "kit1", student))
    hand_in_reference(KIT1, course.repo, dest)
    return dest


def _replace(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _autograde(course, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coursekit.cli", "--course", str(course.root), "autograde", "kit1",
                           "--jobs", "2", *extra], capture_output=True, text=True, errors="surrogateescape",
                          timeout=600)


def _outputs_written(course, student: str) -> dict:
    results = course.folder("autograded", "kit1", student) / "results.json"
    feedback = course.folder("feedback", "kit1", student) / "feedback.html"
    data = json.loads(results.read_bytes().decode("utf-8"))  # valid UTF-8, or this raises
    assert "<h1>kit1:" in feedback.read_bytes().decode("utf-8")
    return data


@NEEDS_SANDBOX
def test_surrogates_escapes_odd_names_and_bogus_times_never_stop_a_result(kit_copy):
    course = kit_copy
    raiser = _reference(course, "raiser")  # exception message with lone surrogates
    _replace(raiser / ACT, TANH_FORWARD, RAISES + TANH_FORWARD)
    (raiser / os.fsdecode(b"notes\xff\x1b[31m.txt")).write_text("an extra file with an undecodable name")
    printer = _reference(course, "printer")  # prints lone surrogates
    _replace(printer / ACT, SIGMOID_FORWARD, PRINTS + SIGMOID_FORWARD)
    for student, text in BAD_TIMES.items():
        dest = _reference(course, student)
        (dest / "timestamp.txt").write_bytes(text.encode("utf-8", "surrogateescape"))
        (dest / "submission_secret.txt").write_text(SECRET)
    # A folder name that is no text (nbgrader's exchange takes it from the student): refused, not a failure.
    copy_release(course.folder("release", "kit1"), course.root / "submitted" / os.fsdecode(b"who\xff") / "kit1")
    _reference(course, "esc\x1b[2J")  # a student id with a terminal escape

    proc = _autograde(course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\x1b" not in proc.stdout + proc.stderr  # nothing a student wrote moves the terminal
    assert "who\\xff: its folder name is not UTF-8 text" in proc.stderr

    scores = item_scores(course.db_url, KIT1)
    # 19 autograded points; tanh and sigmoid are 1 point each, and no other item runs them.
    expected = {"raiser": 18, "printer": 18, "esc\x1b[2J": 19, **{s: 19 for s in BAD_TIMES}}
    assert auto_totals(scores) == expected
    assert all(v["why"] is None for v in scores.values())  # the model answer, awaiting a TA
    raised = _outputs_written(course, "raiser")
    tanh = next(t for t in raised["tests"] if t["name"] == "tanh")
    assert tanh["score"] == 0 and "ValueError: \\udc80 \\udcff" in tanh["output"]
    assert "notes\\xff\\x1b[31m.txt" in raised["output"]  # the extra file, named escaped
    printed = _outputs_written(course, "printer")
    assert next(t for t in printed["tests"] if t["name"] == "sigmoid")["score"] == 0
    _outputs_written(course, "esc\x1b[2J")

    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, KIT1.package) as gb:
        times = {s: gb.find_submission("kit1", s).timestamp for s in BAD_TIMES}
    assert times == {s: None for s in BAD_TIMES}  # unknown, not guessed
    for student in BAD_TIMES:
        data = _outputs_written(course, student)
        assert "the hand-in time is unknown: timestamp.txt holds no time that can be read" in data["output"]
        feedback = course.folder("feedback", "kit1", student)
        assert (feedback / "timestamp.txt").read_text() == "unknown"
        testers = [n for n in KIT1.notebooks if n.endswith("Tester")]
        assert sorted(p.name for p in feedback.glob("*Tester.html")) == sorted(f"{n}.html" for n in testers)

    # Re-running changes nothing and fails nothing: the stored results read back.
    again = _autograde(course)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"unchanged {len(expected)}, failed 0" in again.stdout


@NEEDS_SANDBOX
def test_on_a_dask_cluster_too(kit_copy):
    """--dask: the result crosses from the worker as a dict; the client records it."""
    course = kit_copy
    raiser = _reference(course, "raiser")
    _replace(raiser / ACT, TANH_FORWARD, RAISES + TANH_FORWARD)
    (raiser / "timestamp.txt").write_text(BAD_TIMES["zone_path"])
    proc = _autograde(course, "--dask", "local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = _outputs_written(course, "raiser")
    assert "ValueError: \\udc80 \\udcff" in next(t for t in data["tests"] if t["name"] == "tanh")["output"]
    assert "the hand-in time is unknown" in data["output"]
    assert auto_totals(item_scores(course.db_url, KIT1)) == {"raiser": 18}  # tanh's 1 point lost


def test_a_result_with_lone_surrogates_is_written_as_valid_utf8(tmp_path):
    """The Dask path (a result crosses as a dict) and Gradescope's (results_json of a result)."""
    data = {"student": "s", "assignment": "kit1", "notes": ["note \udc80"], "fingerprint": "f",
            "items": [{"grade_id": "tanh", "points": 0, "max_points": 2, "reason": "ValueError: \udcff\ud800",
                       "visible": "out \udc80", "advice": ["\udc81"], "title": "Tanh \udc82"}]}
    result = SubmissionResult.from_dict(data)
    write_outputs(result, tmp_path / "autograded", tmp_path / "feedback")
    page = (tmp_path / "feedback" / "feedback.html").read_bytes().decode("utf-8")
    assert "ValueError: \\udcff\\ud800" in page and "note \\udc80" in page
    stored = json.loads((tmp_path / "autograded" / "results.json").read_bytes().decode("utf-8"))
    assert stored["extra_data"]["result"]["items"][0]["reason"] == "ValueError: \\udcff\\ud800"
    json.dumps(stored, ensure_ascii=False).encode("utf-8")  # no writer can trip on it any more


@pytest.mark.parametrize("text", [*BAD_TIMES.values(), "", "2026-01-01 12:00:00.000000 " + "A" * 5000,
                                  "2026-01-01 12:00:00.000000 Europe/Berlin\x00", "9999-12-31 23:59:59 -1400"])
def test_a_timestamp_that_cannot_be_read_is_none_never_an_exception(text):
    assert parse_timestamp(text) is None


def test_timestamps_nbgrader_writes_still_read_as_before():
    import datetime as dt

    utc = dt.timezone.utc
    assert parse_timestamp("2025-01-10 12:00:00.000000 UTC") == dt.datetime(2025, 1, 10, 12, tzinfo=utc)
    assert parse_timestamp("2025-01-10 12:00:00 Europe/Berlin") == dt.datetime(2025, 1, 10, 11, tzinfo=utc)
    assert parse_timestamp("2025-01-10T12:00:00+02:00") == dt.datetime(2025, 1, 10, 10, tzinfo=utc)
    assert parse_timestamp("2025-01-10 12:00:00") == dt.datetime(2025, 1, 10, 12, tzinfo=utc)


def test_the_formgrader_lists_an_assignment_with_a_bogus_timestamp(kit_copy):
    """nbgrader's own reading of submitted/<s>/<a>/timestamp.txt raised on a zone that is a path,
    failing the formgrader's listing of the whole assignment; the kit's reads it as no time."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from coursekit.formgrader import install

    install(Config())
    course = kit_copy
    for student, text in (("ok", "2026-01-01 12:00:00.000000 UTC"), ("bogus", BAD_TIMES["zone_path"])):
        dest = copy_release(course.folder("release", "kit1"), course.folder("submitted", "kit1", student))
        (dest / "timestamp.txt").write_text(text)
    api = NbGraderAPI(coursedir=CourseDirectory(root=str(course.root), db_url=course.db_url))
    assert api.get_submitted_timestamp("kit1", "bogus") is None
    assert str(api.get_submitted_timestamp("kit1", "ok")) == "2026-01-01 12:00:00"
