"""Hostile hand-in zips: each is refused with one line naming it, and every other zip is collected.

A zip's members must name one file each, on every file system a course is
graded or read on (case-insensitive ones, ones that normalise Unicode), so a
zip whose members collide there — a file and a folder of one name, ``./`` or
case or NFC/NFD twins, duplicates — is refused rather than unpacked with one
member silently winning.  Names with control characters are refused, and
whatever student-controlled text is printed (zip names, member names) reaches
the terminal with its control characters escaped.

The same inspection (``coursekit.runtime.handin.bundle.inspect_zip``) is what the
student's handin.py checks its zip with and what the Gradescope runner
grades an upload with; both are tested here too.
"""
from __future__ import annotations

import json
import os
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest

from kitcourse import KIT1
from coursekit.cli import main
from coursekit.course import Course
from coursekit.runtime.handin import bundle
from coursekit.runtime.handin.spec import spec_of
from test_collect import files, make_zip, submitted

SPEC = spec_of(KIT1)
LINEAR = "kitlib/nn/linear.py"
CONTROL = ("\x1b", "\r", "\x07", "\x00", "\x9b", "\x08")  # ESC, CR, BEL, NUL, CSI (C1), backspace
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # sets the terminal's clipboard


def without(*names: str) -> dict[str, bytes]:
    members = files()
    for name in names:
        del members[name]
    return members


def _nul_zip(path: Path) -> Path:
    """linear.py handed in as ``kitlib/nn/linear.py<NUL>.txt``: Python reads the name up to the NUL,
    other unzip tools read all of it."""
    make_zip(path, without(LINEAR) | {LINEAR + "Z.txt": b"# evil\n"})
    data = path.read_bytes().replace(LINEAR.encode() + b"Z.txt", LINEAR.encode() + b"\0.txt")
    path.write_bytes(data)
    return path


def _duplicate_zip(path: Path) -> Path:
    make_zip(path, files())
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as zf:  # zipfile warns: "Duplicate name"
        zf.writestr(LINEAR, "# the second linear.py\n")
    return path


NFC, NFD = unicodedata.normalize("NFC", "kitlib/nn/café.py"), unicodedata.normalize("NFD", "kitlib/nn/café.py")
assert NFC != NFD

# zip name -> (how to build it, what its one-line refusal says)
HOSTILE = {
    "filefolder.zip": (lambda p: make_zip(p, files() | {"kitlib/nn/linear.py/evil.py": b"x = 1\n"}),
                       "both a file and a folder"),
    "nnfile.zip": (lambda p: make_zip(p, files() | {"kitlib/nn": b"x = 1\n"}), "both a file and a folder"),
    "dotslash.zip": (lambda p: make_zip(p, files() | {"./" + LINEAR: b"# the other linear.py\n"}),
                     "name the same file"),
    "dotinside.zip": (lambda p: make_zip(p, files() | {"kitlib/./nn/linear.py": b"# the other\n"}),
                      "name the same file"),
    "filecase.zip": (lambda p: make_zip(p, files() | {"kitlib/nn/Linear.py": b"# the other linear.py\n"}),
                     "name the same file"),
    "foldercase.zip": (lambda p: make_zip(p, files() | {"KitLib/nn/linear.py": b"# the other linear.py\n"}),
                       "name the same file"),
    "unicode.zip": (lambda p: make_zip(p, files() | {NFC: b"a = 1\n", NFD: b"a = 2\n"}), "name the same file"),
    "duplicate.zip": (_duplicate_zip, "appears twice"),
    "clear.zip": (lambda p: make_zip(p, files() | {"kitlib/nn/\x1b[2J\x1b[H.py": b"x = 1\n"}),
                  "control character"),
    "carriage.zip": (lambda p: make_zip(p, files() | {"notes\rREFUSED nothing.txt": b"hi"}), "control character"),
    "bell.zip": (lambda p: make_zip(p, files() | {"kitlib/\x07.py": b""}), "control character"),
    "clipboard.zip": (lambda p: make_zip(p, files() | {f"data/{OSC52}.npz": b""}), "control character"),
    "csi.zip": (lambda p: make_zip(p, files() | {"kitlib/nn/\x9b2J.py": b""}), "control character"),
    "backslash.zip": (lambda p: make_zip(p, files() | {"kitlib\\nn\\linear.py": b""}), "unsafe member name"),
    "nul.zip": (_nul_zip, "unsafe member name"),
    "longname.zip": (lambda p: make_zip(p, files() | {f"kitlib/{'a' * 300}.py": b""}), "too long"),
}
HONEST = {"alice.zip": "alice", "bob_kit1_handin.zip": "bob", "Carol_kit1_handin.zip": "Carol", "zed.zip": "zed"}


@pytest.fixture
def course(tmp_path, kit_course) -> Course:
    return Course.copy_of(kit_course.root, tmp_path / "course")


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def assert_no_control(text: str) -> None:
    bad = sorted({c for c in text if c != "\n" and not c.isprintable()})
    assert not bad, f"control characters reach the terminal: {bad!r}"


def test_every_hostile_zip_is_refused_in_one_line_and_the_honest_ones_are_collected(course, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Sorted among the hostile ones, so that a zip that stops the collect stops some honest ones.
    for name, student in HONEST.items():
        make_zip(inbox / name, files(f"{student}'s work"))
    for name, (build, _) in HOSTILE.items():
        build(inbox / name)
    # A course site's name may carry what the student called the upload: collected, shown escaped.
    odd_names = {f"dave_{OSC52}\x1b[2J.zip": "dave", os.fsdecode(b"erin_\xff\xfe.zip"): "erin",
                 "fay_\rREFUSED nothing.zip": "fay"}
    for name in odd_names:
        make_zip(inbox / name, files())
    make_zip(inbox / "\x1b[31mgus.zip", files())  # no usable id: refused, shown escaped
    outside = tree(tmp_path) - {p for p in tree(tmp_path) if p.startswith("course/submitted")}

    code = main(["--course", str(course.root), "collect", "kit1", str(inbox)])
    out, err = capsys.readouterr()
    assert_no_control(out + err)
    assert code == 1 and not err

    collected = {*HONEST.values(), *odd_names.values()}
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == sorted(collected)
    for student in HONEST.values():
        dest = submitted(course, student)
        assert (dest / LINEAR).read_text() == f"# {student}'s work\n"
        assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
            [*files(), "timestamp.txt"])
    for student in collected:
        assert [line for line in out.splitlines()
                if line.startswith("collected ") and line.endswith(f"-> submitted/{student}/kit1 (handed in "
                                                                   "2025-01-10 12:00:00 UTC)")], student
    refused = [line for line in out.splitlines() if line.startswith("REFUSED ")]
    for name, (_, reason) in HOSTILE.items():
        mine = [line for line in refused if line.startswith(f"REFUSED {name}: ")]
        assert len(mine) == 1 and reason in mine[0], (name, mine)
    assert [line for line in refused if "gus.zip" in line] == [
        "REFUSED \\x1b[31mgus.zip: '\\x1b[31mgus' from its name is not a usable student id "
        "(letters, digits and . _ @ - only)"]
    assert len(refused) == len(HOSTILE) + 1
    assert f"{len(collected)} collected, 0 skipped, {len(HOSTILE) + 1} refused" in out
    # Nothing outside submitted/ changed; inside it, only the collected students' folders.
    assert tree(tmp_path) - {p for p in tree(tmp_path) if p.startswith("course/submitted")} == outside


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_zip_alone_is_refused_and_a_good_one_beside_it_collected(course, tmp_path, name):
    from coursekit.collect import collect

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    build, reason = HOSTILE[name]
    build(inbox / name)
    make_zip(inbox / "zoe.zip", files())
    report = collect(KIT1, course, inbox)
    assert report.collected == {"zoe": "zoe.zip"}
    assert len(report.refused) == 1 and report.refused[0].startswith(f"{name}: ") and reason in report.refused[0]
    assert "\n" not in report.refused[0]
    assert_no_control(report.refused[0])
    assert not submitted(course, name[:-4]).exists()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_handin_py_checks_its_zip_by_the_same_rules(tmp_path, name):
    build, reason = HOSTILE[name]
    problems = bundle.verify_zip(build(tmp_path / name), SPEC)
    assert len(problems) == 1 and reason in problems[0]
    assert_no_control(problems[0])


def test_an_honest_zip_passes_the_check(tmp_path):
    # Folder entries (as Finder and `zip -r` write them), macOS's resource forks and a folder of the
    # whole hand-in are not collisions.
    members = {f"kit1/{k}": v for k, v in files().items()} | {"__MACOSX/kit1/kitlib/nn/._linear.py": b"\0"}
    path = make_zip(tmp_path / "x.zip", members, meta=False)
    with zipfile.ZipFile(path, "a") as zf:
        for folder in ("kit1/", "kit1/kitlib/", "kit1/kitlib/nn/"):
            zf.writestr(zipfile.ZipInfo(folder), b"")
    check = bundle.inspect_zip(path, SPEC)
    assert check.ok and not check.missing and check.prefix == "kit1/"


# --- Gradescope: a refused upload still gets a results.json ---------------------------------


@pytest.fixture(scope="module")
def gradescope_source(kit_course, tmp_path_factory) -> Path:
    """What the Gradescope runner reads of the unzipped autograder.zip: the config and the course's
    declaration and release (a refused upload is refused before any grading)."""
    from coursekit.gradescope import CONFIG

    source = tmp_path_factory.mktemp("gradescope") / "source"
    shutil.copytree(kit_course.root, source / "course", symlinks=True)
    (source / CONFIG).write_text(json.dumps({"assignment": KIT1.name}))
    return source


@pytest.mark.parametrize("name", ["filefolder.zip", "filecase.zip", "unicode.zip", "clear.zip", "longname.zip"])
def test_gradescope_refuses_a_hostile_upload_with_a_results_json(gradescope_source, tmp_path, name):
    from coursekit.gradescope import run

    upload = tmp_path / "submission"
    upload.mkdir()
    build, reason = HOSTILE[name]
    build(upload / name)
    data = run(tmp_path, gradescope_source, deadline=60)
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == data
    assert data["score"] == 0 and data["extra_data"] == {"grader_failed": False, "refused": True}
    assert "could not be graded" in data["output"] and reason in data["output"]
    assert_no_control(data["output"])


# --- student ids that differ only by case ---------------------------------------------------


def test_ids_that_differ_only_by_case_are_refused_not_mixed(course, tmp_path):
    """On macOS or Windows, submitted/Dana and submitted/dana are one folder: one student's work
    would be graded as the other's."""
    from coursekit.collect import collect

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_zip(inbox / "Carol.zip", files("Carol's"))
    assert collect(KIT1, course, inbox).collected == {"Carol": "Carol.zip"}
    (inbox / "Carol.zip").unlink()
    make_zip(inbox / "Dana.zip", files("Dana's"))
    make_zip(inbox / "dana_kit1_handin.zip", files("dana's"))
    make_zip(inbox / "carol.zip", files("carol's"))
    make_zip(inbox / "zoe.zip", files())
    report = collect(KIT1, course, inbox)
    assert report.collected == {"zoe": "zoe.zip"}
    assert sorted(r.split(":")[0] for r in report.refused) == ["Dana.zip", "carol.zip", "dana_kit1_handin.zip"]
    assert all("differs only by case" in r for r in report.refused)
    assert "from submitted/Carol" in next(r for r in report.refused if r.startswith("carol.zip"))
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["Carol", "zoe"]
    assert (submitted(course, "Carol") / LINEAR).read_text() == "# Carol's\n"


def test_gradescope_refuses_an_upload_of_files_with_names_a_zip_cannot_hold(gradescope_source, tmp_path):
    from coursekit.gradescope import run

    upload = tmp_path / "submission"
    for rel, data in files().items():
        (upload / rel).parent.mkdir(parents=True, exist_ok=True)
        (upload / rel).write_bytes(data)
    (upload / os.fsdecode(b"kitlib/nn/\xff\x1b[2J.py")).write_bytes(b"x = 1\n")
    data = run(tmp_path, gradescope_source, deadline=60)
    assert data["score"] == 0 and data["extra_data"] == {"grader_failed": False, "refused": True}
    assert "kitlib/nn/\\xff\\x1b[2J.py: its name is not UTF-8 text" in data["output"]
    assert_no_control(data["output"])


def test_the_shipped_escaping_is_the_kits():
    """bundle.shown (shipped to students) and safefs.printable (the kit's) show a name alike."""
    from coursekit.safefs import printable

    for name in ["alice.zip", "jos\u00e9.py", f"a{OSC52}\x1b[2J\r\x07\x00\x9b.py", os.fsdecode(b"erin_\xff\xfe.zip"),
                 "\ud800x", "x" * 300]:
        assert bundle.shown(name) == printable(name, bundle.MAX_SHOWN)
