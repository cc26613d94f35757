"""Every hostile submission in tests/hostile.py, graded in one run with an honest class.

Each must score exactly what its honest code earns (worked out by hand in
hostile.py), the honest students must be graded correctly in the same run,
and no instructor file or submission may change.
"""
import hashlib
import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.grader import GraderConfig
from coursekit.autograde.run import autograde
from coursekit.results import read_result
from coursekit.gradebook import item_scores
from coursekit.samples import make_samples

from conftest import copy_course
from hostile import HOSTILE, SOCKET, build
from kitcourse import BUGGY_LOST, KIT1, NAME

if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

# Short limits keep the endless loop cheap; honest children need well under a second.
LIMITS = sandbox.Limits(wall_seconds=10, cpu_seconds=10, memory_bytes=1 << 30, max_processes=16,
                        max_output_bytes=64 << 10, max_file_bytes=16 << 20)


KIT = Path(__file__).resolve().parent.parent / "coursekit"


def checksums(*roots: Path) -> dict[str, str]:
    """Every entry below the roots: content of regular files, type of anything else.

    Iterative and by file descriptor: the hostile folders hold trees deeper than
    PATH_MAX, undecodable names, FIFOs, devices and 50 GB sparse files."""
    sums = {}
    for root in roots:
        stack = [(os.fsencode(root), os.open(root, os.O_RDONLY | os.O_DIRECTORY))]
        while stack:
            where, fd = stack.pop()
            for name in sorted(os.listdir(fd)):  # str names, undecodable bytes as surrogates
                if name in ("__pycache__", ".venv", ".git"):
                    continue
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                key = where + b"/" + os.fsencode(name)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((key, os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)))
                elif stat.S_ISREG(st.st_mode) and st.st_size < 64 << 20:
                    with os.fdopen(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as fh:
                        sums[os.fsdecode(key)] = hashlib.sha256(fh.read()).hexdigest()
                else:
                    sums[os.fsdecode(key)] = f"{stat.S_IFMT(st.st_mode):o} {st.st_size} {st.st_mtime_ns}"
            os.close(fd)
    return sums


def scratch_dirs() -> set[str]:
    return {p.name for pattern in ("coursekit-grade-*", "coursekit-harness-*") for p in Path("/tmp").glob(pattern)}


def sandbox_processes(course: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "coursekit-grade-" in cmdline or "child.py" in cmdline:
            found.append(cmdline[:200])
    return found


class SocketListener:
    """A UNIX socket on the host, as a local PostgreSQL gradebook or D-Bus would have."""

    def __init__(self, path: str):
        self.path, self.connections = path, []
        if os.path.exists(path):
            os.unlink(path)
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        os.chmod(path, 0o777)  # only the sandbox, not permissions, may stop the child
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections.append(conn.recv(100))
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()
        os.unlink(self.path)


@pytest.fixture(scope="module")
def graded(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("adversarial") / "course")
    repo = course.repo
    make_samples(KIT1, course)
    for hostile in HOSTILE:
        build(hostile, course.folder("release", NAME), repo,
              course.folder("submitted", NAME, hostile.name))
    # The course's sources and release, and the kit itself.
    instructor = [course.root / d for d in ("kitlib", "data", "source", "release")] + [KIT]
    before = checksums(*instructor)
    submissions_before = checksums(course.root / "submitted")
    scratch_before = scratch_dirs()
    listener = SocketListener(SOCKET)
    try:
        summary = autograde(KIT1, course, jobs=2, config=GraderConfig(limits=LIMITS), progress=False)
    finally:
        listener.close()
    yield {
        "socket_connections": listener.connections,
        "scratch_left": scratch_dirs() - scratch_before,
        "processes_left": sandbox_processes(course.root),
        "course": course, "summary": summary, "scores": item_scores(course.db_url, KIT1),
        "instructor_changed": {k for k, v in checksums(*instructor).items() if before.get(k) != v} |
                              (set(before) - set(checksums(*instructor))),
        "submissions_changed": checksums(course.root / "submitted") != submissions_before,
    }
    # Deeper than shutil.rmtree (and so pytest's own clean-up) can recurse: GNU rm walks any depth.
    subprocess.run(["rm", "-rf", "--one-file-system", str(course.root / "submitted")], check=False)


def test_there_are_at_least_fifteen_hostile_submissions():
    assert len(HOSTILE) >= 15


def test_every_submission_was_graded(graded):
    assert graded["summary"].failed == {}
    assert len(graded["summary"].graded) == len(HOSTILE) + 3


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
def test_hostile_submission_earns_only_what_its_code_earns(graded, hostile):
    scores = graded["scores"][hostile.name]
    auto = {i.grade_id: i.points for i in KIT1.auto_items}
    lost = {g for g, p in scores.items() if g in auto and p < auto[g]}
    expected_lost = hostile.lost if hostile.base == "reference" else set(auto)
    assert lost == expected_lost, hostile.what
    assert sum(scores[g] for g in auto) == hostile.expected()
    # A written answer is never scored by the grader: awaiting a human (None), or 0 if left blank.
    assert all(scores.get(i.grade_id) in (None, 0) for i in KIT1.manual_items)


def test_the_honest_class_is_graded_correctly_in_the_same_run(graded):
    totals = {s: sum(graded["scores"][s][i.grade_id] for i in KIT1.auto_items) for s in ("reference", "blank", "buggy")}
    assert totals == {"reference": 19, "blank": 0, "buggy": 19 - sum(BUGGY_LOST.values())}


def test_no_host_socket_was_reached(graded):
    assert graded["socket_connections"] == []


def test_no_process_and_no_scratch_is_left_behind(graded):
    assert graded["processes_left"] == []
    assert graded["scratch_left"] == set()


def test_the_graders_own_memory_stays_bounded(graded):
    """result_bomb answers with 288 MB and memfd_hoard holds 3 GB: neither reaches the grader."""
    peaks = {s: read_result(graded["course"].folder("autograded", NAME, s) / "results.json").grader_peak_mb
             for s in graded["scores"]}
    # numpy loaded, every reference computed: well under a gigabyte.
    assert 0 < max(peaks.values()) < 1024, peaks


def test_no_instructor_file_and_no_submission_changed(graded):
    assert graded["instructor_changed"] == set()
    assert not graded["submissions_changed"]
    assert not (graded["course"].root / "kitlib" / "nn" / "pwned.txt").exists()
    assert not (graded["course"].root.parent / "pwned.txt").exists()


def reasons(graded, student):
    result = read_result(graded["course"].folder("autograded", NAME, student) / "results.json")
    return {i.grade_id: i.reason for i in result.items}, result.notes


@pytest.mark.parametrize("student, grade_id, words", [
    ("import_torch", "relu", "imports 'torch'"),
    ("patch_numpy_in_library", "sigmoid", "changes numpy itself"),
    ("syntax_error", "mse_forward", "syntax error"),
    ("missing_file", "sgd_step", "missing"),
    ("renamed_class", "tanh", "Tanh"),
    ("non_utf8", "relu", "not UTF-8"),
    ("symlink_to_reference", "linear_forward", "link"),
    ("endless_loop", "tanh", "without answering"),
    ("exit_zero_at_import", "mse_forward", "SystemExit"),
    ("import_scipy_lazily", "mse_forward", "imports 'scipy.special'"),
    ("read_reference_evading_policy", "linear_forward", "FileNotFoundError"),
    ("extra_files", "linear_forward", "kitlib.nn.helpers"),
    # the repo is hidden: there is not even a folder to write into
    ("write_instructor_files", "sgd_step", "FileNotFoundError: [Errno 2] No such file or directory"),
])
def test_each_lost_item_says_why(graded, student, grade_id, words):
    item_reasons, _ = reasons(graded, student)
    assert words in item_reasons[grade_id]


@pytest.mark.parametrize("student, words", [
    ("invalid_json_notebook", "LossTester.ipynb: not a valid notebook"),
    ("missing_notebook", "MLPTester.ipynb: missing"),
    ("graded_cells_deleted", "graded cell linear_forward was deleted"),
    ("graded_cells_edited_reference", "graded cell tanh was edited"),
    ("graded_cells_reflagged", "graded cell relu was re-flagged"),
    ("extra_files", "extra files were ignored by the grader: kitlib/nn/helpers.py, notes.txt"),
    ("empty_folder", "the submission folder is empty"),
])
def test_notebook_and_folder_problems_are_reported(graded, student, words):
    _, notes = reasons(graded, student)
    assert any(words in n for n in notes), notes


@pytest.mark.parametrize("student", ["read_reference_evading_policy", "read_hidden_tests"])
def test_reading_attacks_are_stopped_by_the_sandbox_not_by_luck(graded, student):
    """Unsandboxed (rlimits only), the same submissions read the instructor's files and earn full marks."""
    from coursekit.autograde.grader import Grader

    config = GraderConfig(limits=LIMITS, require_sandbox=False, use_sandbox=False)
    result = Grader(KIT1, graded["course"], config).grade(student)
    assert result.score == KIT1.auto_points
    assert not result.sandboxed
