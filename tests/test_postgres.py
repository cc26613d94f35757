"""The gradebook on a real PostgreSQL server, started here on a private unix socket."""
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.run import autograde
from coursekit.course import Course
from coursekit.gradebook import item_scores
from coursekit.release import release
from coursekit.samples import make_samples

from conftest import copy_course
from kitcourse import BUGGY_LOST, KIT1, auto_totals

# The kit course's 19 autograded points; buggy loses its planted bugs' items (kitcourse.SAMPLES).
TOTALS = {"reference": 19, "blank": 0, "buggy": 19 - sum(BUGGY_LOST.values())}

STRICT = os.environ.get("COURSEKIT_REQUIRE_SANDBOX") == "1"  # set by CI: nothing may skip there


def _bindir() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _bindir()
    if bindir is None or (not STRICT and not sandbox.available()):
        if STRICT:
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="coursekit-pg-"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    # PostgreSQL refuses to run as root: run it as the postgres user the package created.
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        os.chown(sock, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    # No TCP at all: the server listens only on a socket in our temporary folder.
    run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
        f"-k {sock} -c listen_addresses='' -p 54329", "start")
    try:
        run(str(bindir / "createdb"), "-h", str(sock), "-p", "54329", "-U", "postgres", "gradebook")
        yield f"postgresql://postgres@/gradebook?host={sock}&port=54329"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_autograde_into_postgresql(kit_course, tmp_path, postgres_url):
    plain = copy_course(kit_course, tmp_path / "course")
    course = Course(plain.root, repo=plain.repo, db_url=postgres_url)
    # The assignment enters this gradebook the way it entered the SQLite one: by release.
    release(KIT1, course, force=True)
    make_samples(KIT1, course)
    summary = autograde(KIT1, course, jobs=2, progress=False)
    assert summary.failed == {}
    scores = item_scores(postgres_url, KIT1)
    assert auto_totals(scores) == TOTALS
    assert {s: v["why"] for s, v in scores.items()} == {"reference": None, "blank": 0, "buggy": None}
    # and nbgrader itself reads the same scores from PostgreSQL
    out = tmp_path / "export.csv"
    course.nbgrader("export", f"--to={out}")
    import csv

    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(out.open())}
    assert rows == {s: float(t) for s, t in TOTALS.items()}  # an ungraded written answer counts 0 there
    # The SQLite gradebook of the course copy saw none of it.
    assert item_scores(plain.db_url, KIT1) == {}
