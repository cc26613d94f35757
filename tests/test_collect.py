"""`course collect`: hand-in zips into submitted/, refusing the unsafe ones with a reason.

The zips are crafted here (no notebook runs), so these tests are fast; the
round trip of a real hand-in through collect and the grader is in
test_handin.py.
"""
from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from coursekit.assignment import HW1
from coursekit.cli import main
from coursekit.collect import collect, parse_timestamp
from coursekit.course import Course, CourseError
from coursekit.handin import bundle
from coursekit.handin.spec import spec_of

SPEC = spec_of(HW1)
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def files(marker: str = "v1") -> dict[str, bytes]:
    """A complete hand-in: every notebook and every student file."""
    members = {nb: NOTEBOOK for nb in SPEC.notebook_files()}
    members.update({rel: f"# {marker}\n".encode() for rel in SPEC.student_files})
    members["mytorch/__init__.py"] = b""
    return members


def make_zip(path: Path, members: dict[str, bytes], meta: dict | None = None,
             when: str = "2025-01-10T12:00:00+00:00") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if meta is not False:
            zf.writestr("handin.json", json.dumps({"assignment": "hw1", "timestamp": when, **(meta or {})}))
    return path


@pytest.fixture
def course(tmp_path) -> Course:
    return Course(tmp_path / "course")


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def submitted(course: Course, student: str) -> Path:
    return course.folder("submitted", "hw1", student)


def test_a_good_zip_is_unpacked_with_a_timestamp(course, inbox):
    make_zip(inbox / "alice_hw1_handin.zip", files())
    report = collect(HW1, course, inbox)
    assert report.collected == {"alice": "alice_hw1_handin.zip"}
    assert not report.refused and not report.skipped and not report.notes
    dest = submitted(course, "alice")
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        [*files(), "timestamp.txt"])
    assert parse_timestamp((dest / "timestamp.txt").read_text()).isoformat() == "2025-01-10T12:00:00+00:00"
    assert "handin.json" not in {p.name for p in dest.iterdir()}


def test_the_student_id_comes_from_handin_json_for_the_default_name(course, inbox):
    make_zip(inbox / "hw1_handin.zip", files(), {"id": "bob", "name": "Bob"})
    make_zip(inbox / "hw1_handin (2).zip", files(), {"id": "carol"})
    assert collect(HW1, course, inbox).collected == {"bob": "hw1_handin.zip", "carol": "hw1_handin (2).zip"}


def test_a_file_name_that_disagrees_with_handin_json_wins_with_a_note(course, inbox):
    make_zip(inbox / "dave.zip", files(), {"id": "eve"})
    report = collect(HW1, course, inbox)
    assert report.collected == {"dave": "dave.zip"}
    assert report.notes == ["dave.zip: file name says dave, its handin.json says eve; collected as dave"]


def test_a_zip_of_the_whole_folder_is_accepted(course, inbox):
    make_zip(inbox / "frank.zip", {f"hw1/{k}": v for k, v in files().items()} | {"hw1/data/x.npz": b"123"},
             meta=False)
    report = collect(HW1, course, inbox)
    assert report.collected == {"frank": "frank.zip"}
    assert (submitted(course, "frank") / "mytorch/nn/linear.py").is_file()
    assert not (submitted(course, "frank") / "data").exists()
    assert any("not unpacked" in n and "hw1/data/x.npz" in n for n in report.notes)


def test_only_the_layout_is_unpacked(course, inbox):
    extra = {"data/testerData.npz": b"x" * 100, "mytorch/__pycache__/linear.cpython-311.pyc": b"\0",
             "coursekit/checks/hw1.py": b"cheat = 1\n", "notes.txt": b"hi", "mytorch/nn/data.bin": b"\0"}
    make_zip(inbox / "gina.zip", files() | extra)
    report = collect(HW1, course, inbox)
    dest = submitted(course, "gina")
    for name in extra:
        assert not (dest / name).exists(), name
    assert any("not unpacked" in n for n in report.notes)


def test_missing_files_are_collected_with_a_note(course, inbox):
    members = files()
    del members["mytorch/nn/loss.py"]
    make_zip(inbox / "hank.zip", members)
    report = collect(HW1, course, inbox)
    assert report.collected == {"hank": "hank.zip"}
    assert report.notes == ["hank.zip (hank): missing mytorch/nn/loss.py"]


# --- unsafe and malformed zips -----------------------------------------------------------


def _symlink_zip(path: Path) -> Path:
    make_zip(path, files())
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("mytorch/nn/evil.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("name, build, reason", [
    ("slip.zip", lambda p: make_zip(p, files() | {"../../escaped.py": b"x"}), "points outside the folder (..)"),
    ("deep.zip", lambda p: make_zip(p, files() | {"mytorch/../../escaped.py": b"x"}), "points outside"),
    ("abs.zip", lambda p: make_zip(p, files() | {"/tmp/escaped.py": b"x"}), "has an absolute path"),
    ("drive.zip", lambda p: make_zip(p, files() | {"C:/escaped.py": b"x"}), "has an absolute path"),
    ("backslash.zip", lambda p: make_zip(p, files() | {"..\\escaped.py": b"x"}), "unsafe member name"),
    ("link.zip", _symlink_zip, "is a symbolic link"),
    ("big.zip", lambda p: make_zip(p, files() | {"mytorch/nn/huge.py": b"0" * (bundle.MAX_MEMBER_BYTES + 1)}),
     "larger than the 25 MB limit"),
    ("many.zip", lambda p: make_zip(p, files() | {f"mytorch/x{i}.py": b"" for i in range(bundle.MAX_MEMBERS)}),
     "more than the 500 allowed"),
    ("text.zip", lambda p: p.write_text("not a zip at all"), "not a zip file"),
    ("empty.zip", lambda p: make_zip(p, {"readme.txt": b"hi"}), "holds none of the hand-in files"),
    ("hw2.zip", lambda p: make_zip(p, files(), {"assignment": "hw2"}), "is a hand-in for hw2, not hw1"),
    ("hw1_handin.zip", lambda p: make_zip(p, files(), meta=False), "cannot tell whose it is"),
    ("-dash.zip", lambda p: make_zip(p, files(), meta=False), "cannot tell whose it is"),
])
def test_unsafe_or_malformed_zips_are_refused_with_a_reason(course, inbox, tmp_path, name, build, reason):
    build(inbox / name)
    make_zip(inbox / "zoe.zip", files())  # a good one in the same folder still goes in
    report = collect(HW1, course, inbox)
    assert report.collected == {"zoe": "zoe.zip"}
    assert len(report.refused) == 1 and report.refused[0].startswith(f"{name}: "), report.refused
    assert reason in report.refused[0]
    assert "\n" not in report.refused[0]
    assert not list(tmp_path.rglob("escaped.py"))
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["zoe"]


def test_a_member_larger_than_its_directory_says_is_stopped(course, inbox, monkeypatch):
    make_zip(inbox / "bomb.zip", files() | {"mytorch/nn/big.py": b"0" * 5000})
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 4000)
    # Let the directory check pass as if the size were small: extraction still stops at the cap.
    monkeypatch.setattr(bundle, "_unsafe", lambda *a: "")
    report = collect(HW1, course, inbox)
    assert report.collected == {}
    assert report.refused and "unpacks to more than its size says" in report.refused[0]
    assert not (course.root / "submitted" / "bomb").exists()  # no staging folder left behind


# --- newer wins ----------------------------------------------------------------------------


def test_an_older_zip_never_replaces_a_newer_submission(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    make_zip(first / "ivy.zip", files("new"), when="2025-01-10T12:00:00+00:00")
    make_zip(second / "ivy.zip", files("old"), when="2025-01-09T12:00:00+00:00")
    assert collect(HW1, course, first).collected == {"ivy": "ivy.zip"}
    report = collect(HW1, course, second)
    assert report.collected == {} and len(report.skipped) == 1
    assert "not newer" in report.skipped[0]
    assert (submitted(course, "ivy") / "mytorch/nn/linear.py").read_text() == "# new\n"


def test_a_newer_zip_replaces_the_whole_submission(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    make_zip(first / "jo.zip", files("old") | {"mytorch/nn/helper.py": b"# old helper\n"},
             when="2025-01-09T12:00:00+00:00")
    make_zip(second / "jo.zip", files("new"), when="2025-01-10T08:00:00-05:00")
    collect(HW1, course, first)
    assert collect(HW1, course, second).collected == {"jo": "jo.zip"}
    dest = submitted(course, "jo")
    assert (dest / "mytorch/nn/linear.py").read_text() == "# new\n"
    assert not (dest / "mytorch/nn/helper.py").exists()  # nothing of the old submission is left
    assert [p.name for p in dest.parent.iterdir()] == ["hw1"]


def test_collecting_the_same_folder_twice_changes_nothing(course, inbox):
    make_zip(inbox / "kim.zip", files())
    collect(HW1, course, inbox)
    before = (submitted(course, "kim") / "timestamp.txt").stat().st_mtime_ns
    report = collect(HW1, course, inbox)
    assert report.collected == {} and "not newer" in report.skipped[0]
    assert (submitted(course, "kim") / "timestamp.txt").stat().st_mtime_ns == before


def test_of_two_zips_of_one_student_the_newest_is_collected(course, inbox):
    make_zip(inbox / "lee_attempt1.zip", files("first"), when="2025-01-09T12:00:00Z")
    make_zip(inbox / "lee_attempt2.zip", files("second"), when="2025-01-10T12:00:00Z")
    report = collect(HW1, course, inbox)
    assert report.collected == {"lee": "lee_attempt2.zip"}
    assert report.skipped == ["lee_attempt1.zip: superseded by the newer lee_attempt2.zip of lee"]
    assert (submitted(course, "lee") / "mytorch/nn/linear.py").read_text() == "# second\n"


def test_a_submission_without_timestamp_is_not_overwritten(course, inbox):
    dest = submitted(course, "max")
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("placed by hand")
    make_zip(inbox / "max.zip", files())
    report = collect(HW1, course, inbox)
    assert report.collected == {} and "without a readable timestamp.txt" in report.skipped[0]
    assert (dest / "mine.txt").is_file()


def test_nbgraders_timestamp_format_is_understood():
    assert parse_timestamp("2025-01-10 12:00:00.000000 UTC").isoformat() == "2025-01-10T12:00:00+00:00"
    assert parse_timestamp("2025-01-10 13:00:00+01:00").isoformat() == "2025-01-10T12:00:00+00:00"
    assert parse_timestamp("yesterday") is None


# --- the command ---------------------------------------------------------------------------


def test_course_collect_prints_one_line_per_zip_and_fails_on_refusals(course, inbox, capsys):
    make_zip(inbox / "nia.zip", files())
    (inbox / "oli.zip").write_text("nope")
    (inbox / "nia_report.pdf").write_text("not a zip")
    code = main(["--course", str(course.root), "collect", "hw1", str(inbox)])
    out = capsys.readouterr().out
    assert code == 1
    assert "collected nia.zip -> submitted/nia/hw1" in out
    assert "REFUSED oli.zip: not a zip file" in out
    assert "1 collected, 0 skipped, 1 refused; 1 non-zip file(s) ignored" in out


def test_course_collect_of_a_missing_folder_is_one_line(course, tmp_path, capsys):
    assert main(["--course", str(course.root), "collect", "hw1", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("course collect: error: ") and err.count("\n") == 1


def test_collect_refuses_a_missing_folder(course, tmp_path):
    with pytest.raises(CourseError):
        collect(HW1, course, tmp_path / "nowhere")
