"""`course collect`: hand-in zips into submitted/, refusing the unsafe ones with a reason.

Who handed a zip in comes from its file name and when from its arrival (the
file's modification time, or a time in the name), never from inside the zip.
The zips are crafted here (no notebook runs), so these tests are fast; the
round trip of a real hand-in through collect and the grader is in
test_handin.py.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from kitcourse import KIT1
from coursekit.cli import main
from coursekit.collect import Naming, collect, format_timestamp, parse_timestamp, read_roster
from coursekit.course import Course, CourseError
from coursekit.runtime.handin import bundle
from coursekit.runtime.handin.spec import spec_of

SPEC = spec_of(KIT1)
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
ARRIVED = "2025-01-10T12:00:00+00:00"


def files(marker: str = "v1") -> dict[str, bytes]:
    """A complete hand-in: every notebook and every student file."""
    members = {nb: NOTEBOOK for nb in SPEC.notebook_files()}
    members.update({rel: f"# {marker}\n".encode() for rel in SPEC.student_files})
    members["kitlib/__init__.py"] = b""
    return members


def at(when: str) -> dt.datetime:
    return dt.datetime.fromisoformat(when)


def make_zip(path: Path, members: dict[str, bytes], meta: dict | bool | None = None, arrived: str = ARRIVED,
             claimed: str = "2025-01-01T00:00:00+00:00", dated: tuple = (2025, 1, 1, 0, 0, 0)) -> Path:
    """A hand-in zip that arrived (file modification time) at ``arrived``.

    ``claimed``: the hand-in time its handin.json states; ``dated``: its members' zip dates."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=dated), data)
        if meta is not False:
            zf.writestr(zipfile.ZipInfo("handin.json", date_time=dated),
                        json.dumps({"assignment": "kit1", "timestamp": claimed, **(meta or {})}))
    stamp = at(arrived).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def checksums(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def course(tmp_path, kit_course) -> Course:
    return Course.copy_of(kit_course.root, tmp_path / "course")  # a course directory: the CLI needs its declaration


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def submitted(course: Course, student: str) -> Path:
    return course.folder("submitted", "kit1", student)


def recorded(course: Course, student: str) -> dt.datetime:
    return parse_timestamp((submitted(course, student) / "timestamp.txt").read_text())


def test_a_good_zip_is_unpacked_with_a_timestamp(course, inbox):
    make_zip(inbox / "alice_kit1_handin.zip", files(), {"id": "alice"})
    report = collect(KIT1, course, inbox)
    assert report.collected == {"alice": "alice_kit1_handin.zip"}
    assert not report.refused and not report.skipped and not report.notes
    dest = submitted(course, "alice")
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        [*files(), "timestamp.txt"])
    assert (dest / "timestamp.txt").read_text() == "2025-01-10 12:00:00.000000 UTC"  # nbgrader's format
    assert "handin.json" not in {p.name for p in dest.iterdir()}


# --- who: the file name, never the zip ---------------------------------------------------


@pytest.mark.parametrize("name", ["kit1_handin.zip", "kit1_handin (2).zip", "KIT1_handin.zip"])
def test_a_name_without_a_student_id_is_refused_whatever_handin_json_says(course, inbox, name):
    make_zip(inbox / name, files(), {"id": "bob", "name": "Bob"})
    report = collect(KIT1, course, inbox)
    assert report.collected == {}
    assert report.refused == [f"{name}: its name holds no student id (it is the name handin.py gives); "
                              "rename it <student>_kit1_handin.zip, as the course site's bulk download names it"]
    assert not (course.root / "submitted").exists()


def test_a_name_the_pattern_does_not_match_is_refused_with_how_to_name_it(course, inbox):
    make_zip(inbox / "kit1.zip", files(), {"id": "bob"})
    make_zip(inbox / "submission.zip", files(), {"id": "bob"})
    report = collect(KIT1, course, inbox, Naming(pattern=r"(?P<student_id>[a-z]+)-kit1\.zip$"))
    assert report.collected == {}
    assert [r.split(":")[0] for r in report.refused] == ["kit1.zip", "submission.zip"]
    assert all("name it <student>.zip or <student>_kit1_handin.zip" in r for r in report.refused)


def test_a_zip_claiming_another_student_is_refused_and_leaves_theirs_alone(course, inbox, tmp_path):
    bobs = tmp_path / "bobs"
    bobs.mkdir()
    make_zip(bobs / "bob_kit1_handin.zip", files("bob's own"), {"id": "bob"}, arrived="2025-01-09T12:00:00+00:00")
    assert collect(KIT1, course, bobs).collected == {"bob": "bob_kit1_handin.zip"}
    before = checksums(submitted(course, "bob"))
    # Alice hands in later, as bob, with a hand-in time far in the future.
    make_zip(inbox / "alice_kit1_handin.zip", files("alice's"), {"id": "bob", "name": "Bob"},
             claimed="2099-01-01T00:00:00+00:00")
    report = collect(KIT1, course, inbox)
    assert report.collected == {}
    assert report.refused == ["alice_kit1_handin.zip: its name says alice, but its handin.json names 'bob'; "
                              "collected for neither (ask who handed it in)"]
    assert checksums(submitted(course, "bob")) == before
    assert not submitted(course, "alice").exists()
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["bob"]


def test_a_zip_claiming_its_own_student_or_nobody_is_collected(course, inbox):
    make_zip(inbox / "Carol_kit1_handin.zip", files(), {"id": "carol"})  # the site's id, other case
    make_zip(inbox / "dave.zip", files(), meta=False)  # no handin.json at all
    make_zip(inbox / "erin.zip", files(), {"name": "Erin"})  # no id in it
    report = collect(KIT1, course, inbox)
    assert report.collected == {"Carol": "Carol_kit1_handin.zip", "dave": "dave.zip", "erin": "erin.zip"}
    assert not report.refused


def test_a_roster_refuses_unknown_ids(course, inbox, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Student_ID,Email\nAda,ada,a@x\nBen,ben,b@x\n")
    assert read_roster(roster) == {"ada", "ben"}
    make_zip(inbox / "ada_kit1_handin.zip", files())
    make_zip(inbox / "mallory_kit1_handin.zip", files())
    report = collect(KIT1, course, inbox, roster=read_roster(roster))
    assert report.collected == {"ada": "ada_kit1_handin.zip"}
    assert report.refused == ["mallory_kit1_handin.zip: mallory is not on the roster"]
    assert not submitted(course, "mallory").exists()


def test_a_plain_roster_is_one_id_a_line(tmp_path):
    roster = tmp_path / "ids.txt"
    roster.write_text("# kit1 class list\nada\n\n ben \n")
    assert read_roster(roster) == {"ada", "ben"}
    (tmp_path / "empty.txt").write_text("# nobody\n")
    with pytest.raises(CourseError, match="holds no student ids"):
        read_roster(tmp_path / "empty.txt")
    with pytest.raises(CourseError, match="cannot be read"):
        read_roster(tmp_path / "missing.txt")


@pytest.mark.parametrize("pattern, why", [
    (r"(?P<student>\w+)\.zip", "has no (?P<student_id>...) group"),
    (r"(?P<student_id>[a-z+\.zip", "file-name pattern"),
])
def test_a_broken_pattern_is_an_error(course, inbox, pattern, why):
    with pytest.raises(CourseError, match=__import__("re").escape(why)):
        collect(KIT1, course, inbox, Naming(pattern=pattern))


# --- when: the zip's arrival, never the zip ------------------------------------------------


def test_the_hand_in_time_is_the_zips_modification_time(course, inbox):
    # handin.json and the members' dates say otherwise: both are ignored.
    make_zip(inbox / "fay.zip", files(), arrived="2025-03-04T05:06:07.123456+00:00",
             claimed="2025-01-01T00:00:00+00:00", dated=(2030, 1, 1, 0, 0, 0))
    collect(KIT1, course, inbox)
    assert (submitted(course, "fay") / "timestamp.txt").read_text() == "2025-03-04 05:06:07.123456 UTC"


def test_zip_member_dates_are_ignored_without_handin_json(course, inbox):
    make_zip(inbox / "gus.zip", files(), meta=False, arrived="2025-01-10T12:00:00+00:00",
             dated=(2099, 12, 31, 23, 59, 58))
    collect(KIT1, course, inbox)
    assert recorded(course, "gus") == at("2025-01-10T12:00:00+00:00")


def test_nbgrader_reads_the_timestamp_written(course, inbox):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import parse_utc

    make_zip(inbox / "hal.zip", files(), arrived="2025-06-30T23:59:59.5+02:00")
    collect(KIT1, course, inbox)
    dest = submitted(course, "hal")
    expected = dt.datetime(2025, 6, 30, 21, 59, 59, 500000)  # nbgrader: naive UTC
    assert parse_utc((dest / "timestamp.txt").read_text()) == expected
    assert CourseDirectory().get_existing_timestamp(str(dest)) == expected


def test_a_time_in_the_name_is_the_hand_in_time(course, inbox):
    naming = Naming(pattern=r"(?P<student_id>[^_]+)_attempt_(?P<timestamp>[0-9-]+)_",
                    timestamp_format="%Y-%m-%d-%H-%M-%S", timezone="Europe/Berlin")
    make_zip(inbox / "ian_attempt_2025-01-10-15-00-00_kit1_handin.zip", files(),
             arrived="2025-02-01T00:00:00+00:00", claimed="2099-01-01T00:00:00+00:00")
    report = collect(KIT1, course, inbox, naming)
    assert report.collected == {"ian": "ian_attempt_2025-01-10-15-00-00_kit1_handin.zip"}
    assert (submitted(course, "ian") / "timestamp.txt").read_text() == "2025-01-10 14:00:00.000000 UTC"


def test_a_time_in_the_name_without_a_format_is_read_as_nbgrader_does(course, inbox):
    naming = Naming(pattern=r"(?P<student_id>[^_]+)_(?P<timestamp>[^_]+)_")
    make_zip(inbox / "jan_2025-01-10T15:00:00+01:00_x.zip", files())
    make_zip(inbox / "kai_soon_x.zip", files())
    report = collect(KIT1, course, inbox, naming)
    assert report.collected == {"jan": "jan_2025-01-10T15:00:00+01:00_x.zip"}
    assert recorded(course, "jan") == at("2025-01-10T14:00:00+00:00")
    assert report.refused == ["kai_soon_x.zip: cannot read the time 'soon' in its name; "
                              "give its format (--timestamp-format)"]


def test_a_future_time_in_handin_json_does_not_block_a_later_zip(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    make_zip(first / "liv.zip", files("first"), {"id": "liv"}, arrived="2025-01-09T12:00:00+00:00",
             claimed="2099-01-01T00:00:00+00:00", dated=(2099, 1, 1, 0, 0, 0))
    collect(KIT1, course, first)
    assert recorded(course, "liv") == at("2025-01-09T12:00:00+00:00")
    make_zip(second / "liv.zip", files("second"), {"id": "liv"}, arrived="2025-01-10T12:00:00+00:00",
             claimed="2000-01-01T00:00:00+00:00")
    assert collect(KIT1, course, second).collected == {"liv": "liv.zip"}
    assert (submitted(course, "liv") / "kitlib/nn/linear.py").read_text() == "# second\n"
    assert recorded(course, "liv") == at("2025-01-10T12:00:00+00:00")


def test_in_one_folder_the_later_arrival_wins_whatever_handin_json_says(course, inbox):
    make_zip(inbox / "mo_1.zip", files("early"), arrived="2025-01-09T12:00:00+00:00",
             claimed="2099-01-01T00:00:00+00:00", dated=(2099, 1, 1, 0, 0, 0))
    make_zip(inbox / "mo_2.zip", files("late"), arrived="2025-01-10T12:00:00+00:00",
             claimed="2000-01-01T00:00:00+00:00")
    report = collect(KIT1, course, inbox)
    assert report.collected == {"mo": "mo_2.zip"}
    assert report.skipped == ["mo_1.zip: superseded by mo_2.zip of mo, handed in later"]
    assert (submitted(course, "mo") / "kitlib/nn/linear.py").read_text() == "# late\n"


def test_a_future_timestamp_left_by_an_older_collect_does_not_block(course, inbox):
    dest = submitted(course, "ned")
    dest.mkdir(parents=True)
    (dest / "timestamp.txt").write_text("2099-01-01 00:00:00.000000 UTC")  # copied from a handin.json
    make_zip(inbox / "ned.zip", files("genuine"))
    report = collect(KIT1, course, inbox)
    assert report.collected == {"ned": "ned.zip"}
    assert any("is in the future, so no arrival time; replaced" in n for n in report.notes)
    assert recorded(course, "ned") == at(ARRIVED)


def test_a_zip_of_the_whole_folder_is_accepted(course, inbox):
    make_zip(inbox / "frank.zip", {f"kit1/{k}": v for k, v in files().items()} | {"kit1/data/x.npz": b"123"},
             meta=False)
    report = collect(KIT1, course, inbox)
    assert report.collected == {"frank": "frank.zip"}
    assert (submitted(course, "frank") / "kitlib/nn/linear.py").is_file()
    assert not (submitted(course, "frank") / "data").exists()
    assert any("not unpacked" in n and "kit1/data/x.npz" in n for n in report.notes)


def test_only_the_layout_is_unpacked(course, inbox):
    extra = {"data/kit1/testerData.npz": b"x" * 100, "kitlib/__pycache__/linear.cpython-311.pyc": b"\0",
             "coursekit/runtime/checks/kit1.py": b"cheat = 1\n", "notes.txt": b"hi", "kitlib/nn/data.bin": b"\0"}
    make_zip(inbox / "gina.zip", files() | extra)
    report = collect(KIT1, course, inbox)
    dest = submitted(course, "gina")
    for name in extra:
        assert not (dest / name).exists(), name
    assert any("not unpacked" in n for n in report.notes)


def test_missing_files_are_collected_with_a_note(course, inbox):
    members = files()
    del members["kitlib/nn/loss.py"]
    make_zip(inbox / "hank.zip", members)
    report = collect(KIT1, course, inbox)
    assert report.collected == {"hank": "hank.zip"}
    assert report.notes == ["hank.zip (hank): missing kitlib/nn/loss.py"]


# --- unsafe and malformed zips -----------------------------------------------------------


def _symlink_zip(path: Path) -> Path:
    make_zip(path, files())
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("kitlib/nn/evil.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("name, build, reason", [
    ("slip.zip", lambda p: make_zip(p, files() | {"../../escaped.py": b"x"}), "points outside the folder (..)"),
    ("deep.zip", lambda p: make_zip(p, files() | {"kitlib/../../escaped.py": b"x"}), "points outside"),
    ("abs.zip", lambda p: make_zip(p, files() | {"/tmp/escaped.py": b"x"}), "has an absolute path"),
    ("drive.zip", lambda p: make_zip(p, files() | {"C:/escaped.py": b"x"}), "has an absolute path"),
    ("backslash.zip", lambda p: make_zip(p, files() | {"..\\escaped.py": b"x"}), "unsafe member name"),
    ("link.zip", _symlink_zip, "is a symbolic link"),
    ("big.zip", lambda p: make_zip(p, files() | {"kitlib/nn/huge.py": b"0" * (bundle.MAX_MEMBER_BYTES + 1)}),
     "larger than the 25 MB limit"),
    ("many.zip", lambda p: make_zip(p, files() | {f"kitlib/x{i}.py": b"" for i in range(bundle.MAX_MEMBERS)}),
     "more than the 500 allowed"),
    ("text.zip", lambda p: p.write_text("not a zip at all"), "not a zip file"),
    ("empty.zip", lambda p: make_zip(p, {"readme.txt": b"hi"}), "holds none of the hand-in files"),
    ("hw2.zip", lambda p: make_zip(p, files(), {"assignment": "hw2"}), "is a hand-in for hw2, not kit1"),
    ("kit1_handin.zip", lambda p: make_zip(p, files(), {"id": "zoe"}), "its name holds no student id"),
    ("-dash.zip", lambda p: make_zip(p, files(), meta=False), "not a usable student id"),
    ("yan.zip", lambda p: make_zip(p, files(), {"id": "zoe"}), "handin.json names 'zoe'"),
])
def test_unsafe_or_malformed_zips_are_refused_with_a_reason(course, inbox, tmp_path, name, build, reason):
    build(inbox / name)
    make_zip(inbox / "zoe.zip", files())  # a good one in the same folder still goes in
    report = collect(KIT1, course, inbox)
    assert report.collected == {"zoe": "zoe.zip"}
    assert len(report.refused) == 1 and report.refused[0].startswith(f"{name}: "), report.refused
    assert reason in report.refused[0]
    assert "\n" not in report.refused[0]
    assert not list(tmp_path.rglob("escaped.py"))
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["zoe"]


def test_a_member_larger_than_its_directory_says_is_stopped(course, inbox, monkeypatch):
    make_zip(inbox / "bomb.zip", files() | {"kitlib/nn/big.py": b"0" * 5000})
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 4000)
    # Let the directory check pass as if the size were small: extraction still stops at the cap.
    monkeypatch.setattr(bundle, "_unsafe", lambda *a: "")
    report = collect(KIT1, course, inbox)
    assert report.collected == {}
    assert report.refused and "unpacks to more than its size says" in report.refused[0]
    assert not (course.root / "submitted" / "bomb").exists()  # no staging folder left behind


# --- newer wins ----------------------------------------------------------------------------


def test_an_older_zip_never_replaces_a_newer_submission(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    make_zip(first / "ivy.zip", files("new"), arrived="2025-01-10T12:00:00+00:00")
    make_zip(second / "ivy.zip", files("old"), arrived="2025-01-09T12:00:00+00:00")
    assert collect(KIT1, course, first).collected == {"ivy": "ivy.zip"}
    report = collect(KIT1, course, second)
    assert report.collected == {} and len(report.skipped) == 1
    assert "not newer" in report.skipped[0]
    assert (submitted(course, "ivy") / "kitlib/nn/linear.py").read_text() == "# new\n"


def test_a_newer_zip_replaces_the_whole_submission(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    make_zip(first / "jo.zip", files("old") | {"kitlib/nn/helper.py": b"# old helper\n"},
             arrived="2025-01-09T12:00:00+00:00")
    make_zip(second / "jo.zip", files("new"), arrived="2025-01-10T08:00:00-05:00")
    collect(KIT1, course, first)
    assert collect(KIT1, course, second).collected == {"jo": "jo.zip"}
    dest = submitted(course, "jo")
    assert (dest / "kitlib/nn/linear.py").read_text() == "# new\n"
    assert not (dest / "kitlib/nn/helper.py").exists()  # nothing of the old submission is left
    assert [p.name for p in dest.parent.iterdir()] == ["kit1"]


def test_collecting_the_same_folder_twice_changes_nothing(course, inbox):
    make_zip(inbox / "kim.zip", files())
    collect(KIT1, course, inbox)
    before = (submitted(course, "kim") / "timestamp.txt").stat().st_mtime_ns
    report = collect(KIT1, course, inbox)
    assert report.collected == {} and "not newer" in report.skipped[0]
    assert (submitted(course, "kim") / "timestamp.txt").stat().st_mtime_ns == before


def test_of_two_zips_of_one_student_the_newest_is_collected(course, inbox):
    make_zip(inbox / "lee_attempt2.zip", files("second"), arrived="2025-01-10T12:00:00+00:00")
    make_zip(inbox / "lee_attempt1.zip", files("first"), arrived="2025-01-09T12:00:00+00:00")
    report = collect(KIT1, course, inbox)
    assert report.collected == {"lee": "lee_attempt2.zip"}
    assert report.skipped == ["lee_attempt1.zip: superseded by lee_attempt2.zip of lee, handed in later"]
    assert (submitted(course, "lee") / "kitlib/nn/linear.py").read_text() == "# second\n"


def test_a_submission_without_timestamp_is_not_overwritten(course, inbox):
    dest = submitted(course, "max")
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("placed by hand")
    make_zip(inbox / "max.zip", files())
    report = collect(KIT1, course, inbox)
    assert report.collected == {} and "without a readable timestamp.txt" in report.skipped[0]
    assert (dest / "mine.txt").is_file()


def test_nbgraders_timestamp_format_is_understood():
    assert parse_timestamp("2025-01-10 12:00:00.000000 UTC").isoformat() == "2025-01-10T12:00:00+00:00"
    assert parse_timestamp("2025-01-10 13:00:00+01:00").isoformat() == "2025-01-10T12:00:00+00:00"
    assert parse_timestamp("yesterday") is None
    assert format_timestamp(at("2025-01-10T13:00:00+01:00")) == "2025-01-10 12:00:00.000000 UTC"


def test_of_two_zips_arriving_at_once_the_name_sorted_last_wins(course, inbox):
    make_zip(inbox / "pia_a.zip", files("a"))
    make_zip(inbox / "pia_b.zip", files("b"))
    report = collect(KIT1, course, inbox)
    assert report.collected == {"pia": "pia_b.zip"}
    assert report.skipped == ["pia_a.zip: superseded by pia_b.zip of pia, handed in at the same time "
                              "(the name sorted last wins)"]


# --- the command ---------------------------------------------------------------------------


def test_course_collect_prints_one_line_per_zip_and_fails_on_refusals(course, inbox, capsys):
    make_zip(inbox / "nia.zip", files())
    (inbox / "oli.zip").write_text("nope")
    (inbox / "nia_report.pdf").write_text("not a zip")
    code = main(["--course", str(course.root), "collect", "kit1", str(inbox)])
    out = capsys.readouterr().out
    assert code == 1
    assert "collected nia.zip -> submitted/nia/kit1" in out
    assert "REFUSED oli.zip: not a zip file" in out
    assert "1 collected, 0 skipped, 1 refused; 1 non-zip file(s) ignored" in out


def test_course_collect_takes_the_sites_naming_and_a_roster(course, inbox, tmp_path, capsys):
    (tmp_path / "roster.txt").write_text("quinn\nrae\n")
    make_zip(inbox / "quinn--2025-01-10-15-00-00.zip", files())
    make_zip(inbox / "sam--2025-01-10-15-00-00.zip", files())
    code = main(["--course", str(course.root), "collect", "kit1", str(inbox), "--roster", str(tmp_path / "roster.txt"),
                 "--name-pattern", r"(?P<student_id>[a-z]+)--(?P<timestamp>[0-9-]+)\.zip",
                 "--timestamp-format", "%Y-%m-%d-%H-%M-%S", "--timezone", "America/New_York"])
    out = capsys.readouterr().out
    assert code == 1
    assert ("collected quinn--2025-01-10-15-00-00.zip -> submitted/quinn/kit1 (handed in 2025-01-10 20:00:00 UTC)"
            in out)
    assert "REFUSED sam--2025-01-10-15-00-00.zip: sam is not on the roster" in out


@pytest.mark.parametrize("options, message", [
    (["--name-pattern", "(?P<who>.*)"], "has no (?P<student_id>...) group"),
    (["--timestamp-format", "%Y"], "needs a (?P<timestamp>...) group"),
    (["--timezone", "Mars/Olympus"], "unknown time zone"),
    (["--roster", "/nonexistent/roster.csv"], "cannot be read"),
])
def test_course_collect_with_a_wrong_option_is_one_line(course, inbox, capsys, options, message):
    make_zip(inbox / "tia.zip", files())
    assert main(["--course", str(course.root), "collect", "kit1", str(inbox), *options]) == 1
    err = capsys.readouterr().err
    assert err.startswith("course collect: error: ") and err.count("\n") == 1 and message in err
    assert not (course.root / "submitted").exists()


def test_course_collect_of_a_missing_folder_is_one_line(course, tmp_path, capsys):
    assert main(["--course", str(course.root), "collect", "kit1", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("course collect: error: ") and err.count("\n") == 1


def test_collect_refuses_a_missing_folder(course, tmp_path):
    with pytest.raises(CourseError):
        collect(KIT1, course, tmp_path / "nowhere")
