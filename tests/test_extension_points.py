"""The named extension points: a sandbox backend and an executor are each one class, named.

A toy backend (argv wrapped with ``env``) and a toy executor (in-process,
sequential) are defined and registered here, as a new module would: if either
needed an edit elsewhere in the kit, these tests could not pass.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import copy_course
from kitcourse import BUGGY_LOST, KIT1

from coursekit.autograde import executors, sandbox
from coursekit.autograde.executors import Batch, GraderExecutor, executor_for
from coursekit.autograde.grader import GraderConfig, SubmissionResult, grading_backend
from coursekit.autograde.sandbox import Launch, Limits
from coursekit.course import CourseError

PYTHON = str(sandbox.python_executable())
FAST = Limits(wall_seconds=10, cpu_seconds=5, memory_bytes=1 << 30, max_open_files=77)
MARK = "COURSEKIT_TOY_BACKEND"


class EnvBackend:
    """Wraps the child with env(1), which sets a variable only this backend sets."""
    name = "toy-env"
    isolates = False
    host_scratch = True
    requires = "coreutils"

    def __init__(self, works: bool = True):
        self.works = works
        self.scratches: list[Path] = []

    def available(self) -> bool:
        return self.works

    def launch(self, argv: list[str], *, read_only: list[Path], hide: Sequence[Path], limits: Limits,
               scratch: Path | None) -> Launch:
        self.scratches.append(scratch)
        return Launch(["/usr/bin/env", f"{MARK}=wrapped", *argv], cwd=str(scratch), scratch=str(scratch),
                      isolation=("toy-env",), fds={5: b"from the backend"})


@pytest.fixture
def toy_backend(monkeypatch) -> EnvBackend:
    monkeypatch.setitem(sandbox.BACKENDS, "toy-env", None)  # undone after the test, like the registration
    return sandbox.register(EnvBackend())


CHILD = ("import json, os, resource\n"
         "print(json.dumps({'mark': os.environ.get('" + MARK + "'), 'cwd': os.getcwd(), 'home': os.environ['HOME'],"
         " 'nofile': resource.getrlimit(resource.RLIMIT_NOFILE)[1], 'fd5': os.read(5, 100).decode()}))\n"
         "os.write(3, b'answer')")


def test_a_registered_backend_wraps_the_child_and_run_keeps_the_rest(toy_backend):
    result = sandbox.run([PYTHON, "-c", CHILD], limits=FAST, channel_bytes=100, backend="toy-env")
    seen = json.loads(result.stdout)
    [scratch] = toy_backend.scratches
    assert seen["mark"] == "wrapped"  # the backend's wrapper ran the child
    assert seen["cwd"] == seen["home"] == str(scratch) and not scratch.exists()  # run()'s scratch, removed
    assert seen["nofile"] == 77  # run()'s rlimits reach through the wrapper
    assert seen["fd5"] == "from the backend" and result.channel == b"answer"
    assert result.isolation[0] == "toy-env" and not result.sandboxed


def test_run_still_kills_at_the_wall_clock_with_a_new_backend(toy_backend):
    result = sandbox.run([PYTHON, "-c", "import time; time.sleep(60)"], backend="toy-env",
                         limits=Limits(wall_seconds=1, cpu_seconds=5))
    assert result.timed_out and result.returncode is None and result.seconds < 10


def test_a_backend_that_does_not_isolate_is_refused_where_isolation_is_required(toy_backend):
    with pytest.raises(sandbox.SandboxUnavailable, match="'toy-env' does not isolate"):
        sandbox.run(["true"], backend="toy-env", require_sandbox=True)
    with pytest.raises(sandbox.SandboxUnavailable, match="which 'toy-env' does not; --allow-unsandboxed"):
        grading_backend(GraderConfig(backend="toy-env"))
    assert grading_backend(GraderConfig(backend="toy-env", require_sandbox=False)) is toy_backend
    assert toy_backend.scratches == []  # refused before anything ran


@pytest.mark.parametrize(("name", "message"), [
    ("podman", "unknown sandbox backend 'podman' (known: bubblewrap, limits-only"),
    ("toy-missing", "sandbox backend 'toy-missing' is not available on this machine (coreutils)"),
    ("coursekit.nowhere:PODMAN", "sandbox backend 'coursekit.nowhere:PODMAN': cannot import"),
])
def test_a_backend_that_cannot_run_is_named_in_one_line(name, message, monkeypatch):
    missing = EnvBackend(works=False)
    missing.name = "toy-missing"
    monkeypatch.setitem(sandbox.BACKENDS, "toy-missing", missing)
    for attempt in (lambda: sandbox.run(["true"], backend=name),
                    lambda: grading_backend(GraderConfig(backend=name, require_sandbox=False))):
        with pytest.raises(sandbox.SandboxUnavailable) as caught:
            attempt()
        assert message in str(caught.value) and "\n" not in str(caught.value)


def test_backends_are_named_as_module_and_attribute_too():
    # what a pool's or Dask's worker resolves without anyone registering it there
    assert sandbox.backend_for("coursekit.autograde.sandbox:LIMITS_ONLY") is sandbox.LIMITS_ONLY
    assert not sandbox.run(["true"], backend="coursekit.autograde.sandbox:LIMITS_ONLY").sandboxed


def test_the_built_in_choice_is_unchanged():
    assert sandbox.backend_for(use_sandbox=False) is sandbox.LIMITS_ONLY
    assert sandbox.backend_for() is (sandbox.BUBBLEWRAP if sandbox.available() else sandbox.LIMITS_ONLY)
    with pytest.raises(sandbox.SandboxUnavailable, match="contradicts"):
        sandbox.backend_for("bubblewrap", use_sandbox=False)
    held = sandbox.run(["true"], backend="limits-only").isolation
    assert "bubblewrap" not in held
    if sandbox.available():
        assert sandbox.run(["true"], backend="bubblewrap").isolation[0] == "bubblewrap"


# -- executors ------------------------------------------------------------------------------


class InProcess(GraderExecutor):
    """Grades one submission after another in this process, and remembers whom."""
    name = "in-process"
    seen: list[str] = []

    def results(self, batch: Batch) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
        for student in batch.students:
            InProcess.seen.append(student)
            try:
                yield student, batch.grader.grade(student)
            except Exception as exc:  # noqa: BLE001 - the executor's contract: yielded, never raised
                yield student, exc


@pytest.fixture
def in_process(monkeypatch) -> type[InProcess]:
    monkeypatch.setitem(executors.EXECUTORS, "in-process", InProcess)  # undone after the test
    monkeypatch.setattr(InProcess, "seen", [])
    return InProcess


needs_bwrap = pytest.mark.skipif(os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available(),
                                 reason="grading needs bubblewrap here")


@needs_bwrap
def test_a_registered_executor_grades_as_the_pool_does(in_process, kit_course, tmp_path):
    from coursekit.autograde.run import autograde
    from coursekit.results import read_result
    from coursekit.samples import make_samples

    courses = {}
    for how in ("pool", "in-process"):
        course = courses[how] = copy_course(kit_course, tmp_path / how)
        make_samples(KIT1, course)
        summary = autograde(KIT1, course, students=["buggy"], executor=how, jobs=1, progress=False,
                            config=GraderConfig.for_assignment(KIT1))
        assert summary.graded == ["buggy"] and summary.failed == {}
    assert in_process.seen == ["buggy"]
    results = {how: read_result(course.folder("autograded", "kit1", "buggy") / "results.json")
               for how, course in courses.items()}
    # 19 autograded points less the buggy sample's planted bugs (kitcourse.SAMPLES): 14.
    assert results["pool"].score == results["in-process"].score == 19 - sum(BUGGY_LOST.values()) == 14
    assert [(i.grade_id, i.points, i.reason) for i in results["pool"].items] == \
        [(i.grade_id, i.points, i.reason) for i in results["in-process"].items]
    # The run around it is the kit's: an unchanged submission is not sent to the executor again.
    again = autograde(KIT1, courses["in-process"], students=["buggy"], executor="in-process", progress=False,
                      config=GraderConfig.for_assignment(KIT1))
    assert again.skipped == ["buggy"] and in_process.seen == ["buggy"]


def test_executors_are_chosen_in_one_place(in_process):
    from coursekit.autograde.cluster import DaskExecutor
    from coursekit.autograde.plain import NbgraderExecutor
    from coursekit.autograde.run import PoolExecutor

    assert isinstance(executor_for(), PoolExecutor)
    assert isinstance(executor_for(dask=None), PoolExecutor)  # an option left out is not given
    assert isinstance(executor_for(dask="local"), DaskExecutor)
    assert isinstance(executor_for("nbgrader"), NbgraderExecutor)
    assert isinstance(executor_for("in-process"), InProcess)
    assert isinstance(executor_for("test_extension_points:InProcess"), GraderExecutor)


@pytest.mark.parametrize(("name", "options", "message"), [
    ("slurm", {}, "unknown executor 'slurm' (known: dask, in-process, nbgrader, pool)"),
    ("nbgrader", {"dask": "local"}, "the 'nbgrader' executor does not take dask"),
    ("dask", {"dask": "tcp://10.0.0.1:8786"}, "refused: anyone who can reach a tcp:// scheduler"),
    ("coursekit.nowhere:Slurm", {}, "executor 'coursekit.nowhere:Slurm': cannot import"),
])
def test_an_executor_that_cannot_be_made_is_named_in_one_line(in_process, name, options, message):
    with pytest.raises(CourseError) as caught:
        executor_for(name, **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_names_an_unknown_executor_or_backend_before_grading(kit_copy, capsys):
    from coursekit.cli import main

    course = kit_copy
    root = str(course.root)
    assert main(["--course", root, "autograde", "kit1", "--executor", "slurm"]) == 1
    assert "course autograde: error: unknown executor 'slurm'" in capsys.readouterr().err
    assert main(["--course", root, "autograde", "kit1", "--sandbox", "podman"]) == 1
    assert "course autograde: error: unknown sandbox backend 'podman'" in capsys.readouterr().err
    assert main(["--course", root, "autograde", "kit1", "--engine", "nbgrader", "--executor", "pool"]) == 1
    assert "--engine nbgrader is --executor nbgrader" in capsys.readouterr().err
    assert not course.folder("autograded", "kit1").exists()  # nothing was graded


def test_the_nbgrader_executor_reports_what_nbgrader_reported(kit_copy, monkeypatch):
    from coursekit.autograde import plain

    asked = []

    def nbgrader(assignment, course, students, notebooks):  # stands in for `nbgrader autograde`
        asked.append((students, notebooks))
        return ["blank"]

    monkeypatch.setattr(plain, "autograde", nbgrader)
    summary = executor_for("nbgrader").autograde(KIT1, kit_copy, students=["reference", "blank"], force=False,
                                                 config=GraderConfig(), jobs=4, progress=False)
    assert asked == [(["reference", "blank"], "*")]
    assert summary.graded == ["reference"] and list(summary.failed) == ["blank"]
