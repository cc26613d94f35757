import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The reference library is not installed (a grading kernel must never find it);
# the tests import it from the repo.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from coursekit.assignment import load_assignment  # noqa: E402

HW1 = load_assignment(REPO, "hw1")  # the course's first assignment, as its declaration states it


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def released_course(tmp_path_factory, repo):
    """A course root (not the repo) with hw1 released into it and a fresh gradebook.

    Only for tests about hw1's own release (its README, PDF, notebooks, student view); the kit's
    tests grade the kit course (`kit_course`).  Tests that grade copy it (`copy_course`), so that
    each grades into its own gradebook."""
    from coursekit.course import Course
    from coursekit.release import release

    root = tmp_path_factory.mktemp("course")
    course = Course.copy_of(repo, root)
    release(HW1, course, force=True)
    return course


@pytest.fixture(scope="session")
def kit_course(tmp_path_factory):
    """The kit's own synthetic course (tests/kitcourse.py), written in a temporary folder and
    released once with real nbgrader.  Tests copy it (see `kit_copy`)."""
    from kitcourse import release_course

    return release_course(tmp_path_factory.mktemp("kitcourse") / "course")


@pytest.fixture
def kit_copy(kit_course, tmp_path):
    return copy_course(kit_course, tmp_path / "course")


def copy_course(course, root):
    """A private copy of a course, with its own gradebook."""
    import shutil

    from coursekit.course import Course

    shutil.copytree(course.root, root, symlinks=True)
    return Course(root)


def fake_nbgrader(assignment, course) -> None:
    """What generate_assignment does to the files that matter here: copy, drop hidden tests,
    blank answer cells (tests of the release that need no real nbgrader)."""
    import shutil

    import nbformat

    from coursekit import release as rel

    src, dest = rel.source_dir(assignment, course), rel.release_dir(assignment, course)
    shutil.copytree(src, dest)
    for name in assignment.notebooks:
        path = dest / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            lines = cell.source.split("\n")
            if "### BEGIN HIDDEN TESTS" in lines:
                cell.source = "\n".join(lines[: lines.index("### BEGIN HIDDEN TESTS")])
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "markdown":
                cell.source = "YOUR ANSWER HERE"
        nbformat.write(nb, path)


# Every test module's areas, in one table (markers registered in pyproject.toml), so that
# `pytest -m sandbox` runs what covers the sandbox and `make check` can leave out the slow tiers.
# `classwide`: grades a whole class or many sandboxed hand-ins (minutes); `browser`: Playwright.
# A module missing here fails collection: the table cannot go stale.  Kit tests sit in tests/, each
# assignment's own tests in tests/<assignment>/, the course helpers' in tests/course_helpers/.
AREAS: dict[str, tuple[str, ...]] = {
    "test_adversarial": ("grading", "hostile", "security", "classwide"),
    "test_authoring": ("authoring", "release", "grading"),
    "test_autograde_plain": ("grading", "platforms", "classwide"),
    "test_cell_items": ("grading", "authoring", "sandbox"),
    "test_cluster": ("cluster", "grading", "classwide"),
    "test_cluster_security": ("cluster", "security"),
    "test_collect": ("collect",),
    "test_collect_hostile": ("collect", "hostile", "security"),
    "test_course_settings": ("platforms", "collect"),
    "test_csv_safe": ("security", "grading"),
    "test_datasets": ("course",),
    "test_docs": ("docs",),
    "test_exchange": ("platforms",),
    "test_extension_points": ("sandbox", "grading"),
    "test_formgrader": ("formgrader", "platforms", "classwide"),  # grades the samples, then a Jupyter server
    "test_grader": ("grading",),
    "test_gradescope": ("platforms", "grading"),
    "test_handin": ("handin",),
    "test_harness": ("sandbox", "hostile", "grading"),
    "test_hidden_hidden": ("grading",),
    "test_hw1_checks": ("checks", "course"),
    "test_hw1_mytorch": ("mytorch", "course"),
    "test_hw2_checks": ("checks", "course"),
    "test_hw1_gaps": ("checks", "course"),
    "test_hw2_gaps": ("checks", "course"),
    "test_hw2_grading": ("grading", "course", "classwide"),
    "test_hw2_mytorch": ("mytorch", "course"),
    "test_hw2_notebooks": ("course", "release"),
    "test_inert_browser": ("security", "formgrader", "browser"),
    "test_inert_views": ("security", "formgrader", "similarity"),
    "test_kit_is_generic": ("authoring",),
    "test_layers": ("tooling",),
    "test_library_growth": ("authoring", "release"),
    "test_memory_bounds": ("grading", "hostile"),
    "test_mutants": ("authoring", "grading", "sandbox"),
    "test_new_assignment": ("authoring", "release", "grading"),
    "test_postgres": ("platforms", "grading"),
    "test_protocol": ("sandbox", "hostile"),
    "test_pytorch": ("platforms",),
    "test_release_notebooks": ("release",),
    "test_release_stub": ("release",),
    "test_samples": ("checks", "grading"),
    "test_sandbox": ("sandbox", "hostile", "security"),
    "test_similarity": ("similarity",),
    "test_student_strings": ("grading",),
    "test_student_view": ("grading", "checks"),
    "test_submission_input": ("grading", "hostile", "security"),
    "test_tiers": ("tooling",),
    "test_training": ("course", "mytorch"),
    "test_unchanged": ("grading",),
    "test_validate": ("authoring",),
    "test_written": ("grading", "authoring"),
}
# Single tests that grade a class inside an otherwise quick module ("module::test" prefix); the rest
# of the module stays in `make check`, so that every kit module is still imported there.
CLASSWIDE_TESTS: tuple[str, ...] = (
    # the sample class graded on a real Dask cluster (local_run, tls_cluster); the option checks stay
    "test_cluster_security.py::test_a_local_user_without_credentials_runs_no_code_on_the_local_cluster",
    "test_cluster_security.py::test_credentials_of_another_cluster_are_refused",
    "test_cluster_security.py::test_the_local_cluster_listens_on_loopback_and_tls_only",
    "test_cluster_security.py::test_the_local_cluster_serves_no_http_pages",
    "test_cluster_security.py::test_the_kits_own_credentials_grade",
    "test_cluster_security.py::test_a_tls_cluster_grades_through_the_cli_options",
    "test_cluster_security.py::test_a_tls_cluster_takes_the_credentials_from_dask_config",
    "test_grader.py::test_a_run_killed_half_way_resumes",
    # these five share the fixture that runs Gradescope's run_autograder for every sample student
    "test_gradescope.py::test_same_scores_as_course_autograde",
    "test_gradescope.py::test_results_json_is_gradescope_shaped",
    "test_gradescope.py::test_written_items_are_listed_at_zero_and_graded_by_hand",
    "test_gradescope.py::test_hidden_cases_are_never_shown",
    "test_gradescope.py::test_fits_gradescope_default_container",
    "test_postgres.py::test_autograde_into_postgresql",
)


# What makes `make check` slow without adding a kit module to it (measured with --durations): the
# module fixtures that release and grade a whole course or print a PDF, (module, fixture), and single
# tests that grade in the sandbox for many seconds.  Marked `slow`; `make test` runs them all.
SLOW_FIXTURES: frozenset[tuple[str, str]] = frozenset({
    ("test_authoring", "fresh"), ("test_authoring", "repo_course"),      # real nbgrader, three releases
    ("test_handin", "handed_in"), ("test_handin", "broken_hand_in"),     # notebooks run, PDF printed
    ("test_handin", "trained"),
    ("test_unchanged", "released"),                                      # graded again and again
    ("test_mutants", "course"),                                          # mutants graded in the sandbox
})
SLOW_TESTS: tuple[str, ...] = (
    "test_student_strings.py::test_surrogates_escapes_odd_names_and_bogus_times_never_stop_a_result",
    "test_student_strings.py::test_on_a_dask_cluster_too",
    "test_grader.py::test_cli_errors_are_one_line",
    "test_student_view.py::test_a_hanging_item_is_stopped_and_the_prediction_goes_on",
    "test_memory_bounds.py::test_answers_of_one_byte_numbers_from_student_code_cost_only_their_items",
    "test_memory_bounds.py::test_hand_ins_of_20_mb_of_code_are_compared_up_to_a_cap",
    "test_memory_bounds.py::test_notebooks_of_millions_of_values_cost_their_notebooks_only",
    "test_inert_views.py::test_the_similarity_report_shows_hostile_code_as_text_under_a_strict_policy",
)


def pytest_collection_modifyitems(config, items) -> None:
    missing = sorted({item.path.stem for item in items if item.path.stem not in AREAS})
    if missing:
        raise pytest.UsageError(
            f"tests/conftest.py: AREAS names no area for {', '.join(missing)}; "
            "add each module there with its areas (markers listed in pyproject.toml)")
    for item in items:
        for area in AREAS[item.path.stem]:
            item.add_marker(area)
        if item.nodeid.split("/")[-1].startswith(CLASSWIDE_TESTS):
            item.add_marker("classwide")
        if item.nodeid.split("/")[-1].startswith(SLOW_TESTS) or \
                {(item.path.stem, name) for name in getattr(item, "fixturenames", ())} & SLOW_FIXTURES:
            item.add_marker("slow")


def pytest_addoption(parser) -> None:
    parser.addoption("--kit-touched", action="store_true",
                     help="fail unless the tests run imported every module under coursekit/ (make check)")


def untouched_kit_modules() -> list[str]:
    """Modules under coursekit/ that this pytest process has not imported."""
    names = (".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "coursekit").rglob("*.py"))
    return sorted(n.removesuffix(".__init__") for n in names if n.removesuffix(".__init__") not in sys.modules)


def pytest_sessionfinish(session, exitstatus) -> None:
    # Why in-process: the fast tier must still reach every kit module; a module no selected test
    # imports is one whose breakage only `make test` would see.
    if session.config.getoption("--kit-touched"):
        untouched = untouched_kit_modules()
        if untouched:
            session.config.get_terminal_writer().line(
                f"--kit-touched: no selected test imported {', '.join(untouched)}", red=True)
            session.exitstatus = session.exitstatus or 1
