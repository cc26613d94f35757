"""`course autograde --dask`: a real local Dask cluster (scheduler and worker processes).

The cluster must give every submission exactly the local pool's grade (the
pool's own grades are checked against hand-worked expectations in
test_grader.py and test_adversarial.py, and here again), keep going when a
worker dies mid-task, and report — never score — a submission whose every try
fails.
"""
import os
import subprocess
import sys

import pytest
from conftest import REPO, copy_course
from kitcourse import BUGGY_LOST, KIT1, auto_totals
from hostile import HOSTILE, build

from coursekit.autograde import sandbox
from coursekit.autograde.grader import GraderConfig
from coursekit.autograde.run import autograde
from coursekit.results import read_result
from coursekit.gradebook import item_scores
from coursekit.samples import make_samples

pytest.importorskip("distributed")
if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

# Hand-ins whose folders are hostile to the reading client, and code hostile to the worker.
CHOSEN = ("syntax_error", "kill_the_harness", "symlink_to_reference", "fifo_and_device", "sparse_giant_files",
          "undecodable_file_names", "malformed_notebooks", "invalid_json_notebook", "forge_answers_then_raise")
# The kit course's 19 autograded points; buggy loses its planted bugs' items (kitcourse.SAMPLES).
SAMPLES = {"reference": 19, "blank": 0, "buggy": 19 - sum(BUGGY_LOST.values())}
EXPECTED = {**SAMPLES, **{h.name: h.expected() for h in HOSTILE if h.name in CHOSEN}}


def _class(course) -> None:
    make_samples(KIT1, course)
    for hostile in HOSTILE:
        if hostile.name in CHOSEN:
            build(hostile, course.folder("release", "kit1"), course.repo,
                  course.folder("submitted", "kit1", hostile.name))


def _outcome(course) -> dict:
    """Per student: every item's points and reason, as the gradebook and results.json hold them."""
    scores = item_scores(course.db_url, KIT1)
    out = {}
    for student in scores:
        result = read_result(course.folder("autograded", "kit1", student) / "results.json")
        out[student] = (scores[student], [(i.grade_id, i.points, i.reason) for i in result.items])
    return out


@pytest.fixture(scope="module")
def two_ways(kit_course, tmp_path_factory):
    """The same class graded by the pool (in-process) and by `course autograde --dask local`."""
    root = tmp_path_factory.mktemp("cluster")
    pool, dask = copy_course(kit_course, root / "pool"), copy_course(kit_course, root / "dask")
    _class(pool)
    _class(dask)
    summary = autograde(KIT1, pool, jobs=2, config=GraderConfig.for_assignment(KIT1), progress=False)
    assert summary.failed == {}
    cli = subprocess.run([sys.executable, "-m", "coursekit.cli", "--course", str(dask.root), "autograde", "kit1",
                          "--dask", "local", "--jobs", "2"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    return {"pool": _outcome(pool), "dask": _outcome(dask), "cli": cli}


def test_the_cluster_grades_every_submission(two_ways):
    cli = two_ways["cli"]
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "grading on Dask: tls://127.0.0.1:" in cli.stderr  # TLS on loopback: tests/test_cluster_security.py
    assert f"graded {len(EXPECTED)}, unchanged 0, failed 0" in cli.stdout


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_cluster_and_pool_give_the_expected_grade_bit_for_bit(two_ways, student):
    scores, items = two_ways["dask"][student]
    assert auto_totals({student: scores})[student] == EXPECTED[student]
    assert two_ways["dask"][student] == two_ways["pool"][student]  # points and every reason


# -- workers that die --------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_class(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("dying") / "course")
    make_samples(KIT1, course)  # blank, buggy, reference: tasks 0, 1 and 2 of a run
    return course


def _cluster_run(course, marks, times, allowed_failures):
    """Grade on a fresh local cluster whose workers die on the buggy student's task (key ...-1).

    A plain tcp:// cluster, so the kit is told --dask-insecure (its own local cluster is TLS)."""
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    import cluster_faults
    from coursekit.autograde.cluster import DaskTarget

    cloudpickle.register_pickle_by_value(cluster_faults)
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=50) as cluster, Client(cluster) as client:
        client.register_plugin(cluster_faults.KillOnTask(("-1",), str(marks), times))
        return autograde(KIT1, course, jobs=2, force=True, config=GraderConfig.for_assignment(KIT1),
                         progress=False, dask=DaskTarget(cluster.scheduler_address, insecure=True))


@pytest.mark.slow
def test_a_task_whose_worker_dies_is_graded_elsewhere(small_class, tmp_path):
    summary = _cluster_run(small_class, tmp_path, times=1, allowed_failures=3)
    assert len(list(tmp_path.glob("kill-*"))) == 1  # a worker did die, mid-task
    assert summary.failed == {}
    assert auto_totals(item_scores(small_class.db_url, KIT1)) == SAMPLES


@pytest.mark.slow
def test_a_submission_that_fails_on_every_try_is_reported_never_scored(kit_course, tmp_path):
    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    summary = _cluster_run(course, tmp_path, times=None, allowed_failures=1)
    assert len(list(tmp_path.glob("kill-*"))) == 2  # tried twice, killed twice
    assert set(summary.failed) == {"buggy"} and "KilledWorker" in summary.failed["buggy"]
    assert sorted(summary.graded) == ["blank", "reference"]
    scores = item_scores(course.db_url, KIT1)
    assert "buggy" not in scores  # no gradebook row, not even a 0
    assert not (course.folder("autograded", "kit1", "buggy") / "results.json").exists()


# -- a worker whose copy of the course differs --------------------------------------------

def test_a_worker_with_other_course_files_refuses(kit_course, tmp_path):
    from coursekit.autograde.grader import Grader
    from coursekit.autograde.worker import GraderSpec, grade_handin, grader_digest
    from coursekit.course import CourseError

    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    grader = Grader(KIT1, course, GraderConfig.for_assignment(KIT1))
    handin = grader.read("reference")
    digest = grader_digest(KIT1, course)
    checks = course.source_file(KIT1.checks)
    checks.write_text(checks.read_text() + "\n# changed on this worker\n")
    with pytest.raises(CourseError, match="differ from those of the run"):
        grade_handin(GraderSpec(KIT1, course, grader.config, {}, digest), handin)


def test_a_scheduler_that_does_not_answer_is_one_clear_error(kit_course, tmp_path, monkeypatch):
    from coursekit.autograde import cluster
    from coursekit.course import CourseError

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    with pytest.raises(CourseError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        autograde(KIT1, course, jobs=1, config=GraderConfig.for_assignment(KIT1), progress=False,
                  dask=cluster.DaskTarget("tcp://127.0.0.1:9", insecure=True))
    assert item_scores(course.db_url, KIT1) == {}  # nothing recorded, nothing lost
