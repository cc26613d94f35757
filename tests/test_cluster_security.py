"""`course autograde --dask`: the cluster admits only the kit.

Whoever can talk to a Dask scheduler, worker or nanny can run code on the
workers.  These tests start real clusters on loopback and attack them from
another process (tests/cluster_attack.py), as another local user would:
without credentials, and with credentials of another cluster.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, copy_course
from kitcourse import BUGGY_LOST, KIT1, auto_totals

from coursekit.autograde import sandbox
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.gradebook import item_scores
from coursekit.samples import make_samples

pytest.importorskip("distributed")
if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

ATTACK = Path(__file__).with_name("cluster_attack.py")
# The kit course's 19 autograded points; buggy loses its planted bugs' items (kitcourse.SAMPLES).
TOTALS = {"reference": 19, "blank": 0, "buggy": 19 - sum(BUGGY_LOST.values())}


def attack(mode: str, addresses: list[str]) -> dict:
    """What another process on this machine got from each address (the scheduler's first)."""
    out = subprocess.run([sys.executable, str(ATTACK), mode, *addresses], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli(course, *args, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "coursekit.cli", "--course", str(course.root), "autograde", "kit1",
                           *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


# -- --dask local ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_run(kit_course, tmp_path_factory):
    """Grade two hand-ins with `--dask local`; while its cluster is up, attack it and look at it."""
    import psutil
    from dask import distributed

    from coursekit.autograde.cluster import grade_on_cluster

    course = copy_course(kit_course, tmp_path_factory.mktemp("local") / "course")
    make_samples(KIT1, course)
    started = []

    class Recorded(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    seen: dict = {}

    def while_up(message: str) -> None:  # the grader's log line: the cluster is up, grading has not begun
        if not message.startswith("grading on Dask") or seen:
            return
        [cluster] = started
        nannies = list(cluster.workers.values())
        addresses = [cluster.scheduler_address, *(n.worker_address for n in nannies), *(n.address for n in nannies)]
        me = psutil.Process()
        seen.update(addresses=addresses, security=cluster.security,
                    listening=sorted({(c.laddr.ip, c.laddr.port) for p in [me, *me.children(recursive=True)]
                                      for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}),
                    http=_http_pages(cluster.scheduler.http_server.port),
                    plain=attack("plain", addresses), foreign=attack("foreign", addresses),
                    trusted=_run_with(cluster.scheduler_address, cluster.security))

    grader = Grader(KIT1, course, GraderConfig.for_assignment(KIT1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distributed, "LocalCluster", Recorded)
        results = dict(grade_on_cluster("local", grader, grader.references(), ["reference", "buggy"], 2,
                                        log=while_up))
    return {**seen, "results": results}


def _http_pages(port: int) -> dict:
    """The status of the scheduler's HTTP pages that show workers, logs and task errors."""
    out = {}
    for page in ("info/main/workers.html", "info/main/logs.html", "info/main/exceptions.html", "metrics"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=10) as reply:
                out[page] = reply.status
        except urllib.error.HTTPError as exc:
            out[page] = exc.code
    return out


def _run_with(address: str, security) -> list[int]:
    from distributed import Client

    with Client(address, security=security, timeout=30) as client:
        return sorted(client.run(os.getpid).values())


def test_a_local_user_without_credentials_runs_no_code_on_the_local_cluster(local_run):
    plain = local_run["plain"]
    assert len(plain) >= 1 + 2 * 2  # the scheduler, two workers, two nannies (as tcp://, and over TLS)
    ran = {address: r["ran_as"] for address, r in plain.items() if r["ran_as"] is not None}
    assert ran == {}, f"code ran on the cluster as uid {ran}"


def test_credentials_of_another_cluster_are_refused(local_run):
    foreign = local_run["foreign"]
    assert set(foreign) == {f"foreign {address}" for address in local_run["addresses"]}
    ran = {address: r["ran_as"] for address, r in foreign.items() if r["ran_as"] is not None}
    assert ran == {}, f"code ran on the cluster as uid {ran}"


def test_the_local_cluster_listens_on_loopback_and_tls_only(local_run):
    assert all(address.startswith("tls://127.0.0.1:") for address in local_run["addresses"]), local_run["addresses"]
    assert local_run["security"].require_encryption is True
    assert local_run["listening"] and {ip for ip, _ in local_run["listening"]} == {"127.0.0.1"}


def test_the_local_cluster_serves_no_http_pages(local_run):
    assert local_run["http"] == dict.fromkeys(local_run["http"], 404)


def test_the_kits_own_credentials_grade(local_run):
    assert len(local_run["trusted"]) == 2  # a client holding this run's credentials reaches both workers
    results = local_run["results"]
    assert {s: getattr(r, "score", r) for s, r in results.items()} == {"reference": 19, "buggy": 14}


# -- the command line: what it refuses, before anything starts --------------------------------

@pytest.fixture(scope="module")
def small_course(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("refused") / "course")
    make_samples(KIT1, course)
    return course


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "127.0.0.1:9"])
def test_a_plain_tcp_scheduler_is_refused_without_opt_in(small_course, address):
    started = time.monotonic()
    out = _cli(small_course, "--dask", address, timeout=120)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"course autograde: error: --dask {address}: refused: ")
    assert "--dask-insecure" in lines[0] and "--dask-tls-ca-file" in lines[0]
    assert time.monotonic() - started < 60  # no connection tried: no wait for the scheduler
    assert item_scores(small_course.db_url, KIT1) == {}


def _pem(tmp_path) -> Path:
    pem = tmp_path / "x.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    return pem


@pytest.mark.parametrize("args, message", [
    (["--dask-tls-cert", "{pem}"], "--dask-tls-* and --dask-insecure need --dask ADDRESS"),
    (["--dask", "local", "--dask-tls-ca-file", "{pem}"], "--dask local makes its own credentials"),
    (["--dask", "local", "--dask-insecure"], "--dask local makes its own credentials"),
    (["--dask", "tcp://127.0.0.1:9", "--dask-insecure", "--dask-tls-ca-file", "{pem}"], "need a tls:// address"),
    (["--dask", "tls://127.0.0.1:9"], "a tls:// scheduler needs this client's credentials"),
    (["--dask", "tls://127.0.0.1:9", "--dask-tls-ca-file", "{pem}"], "--dask-tls-cert missing"),
    (["--dask", "tls://127.0.0.1:9", "--dask-tls-ca-file", "{pem}", "--dask-tls-cert", "{missing}"],
     "--dask-tls-cert {missing}: no such file"),
])
def test_a_misused_dask_option_is_one_clear_line(small_course, tmp_path, args, message):
    names = {"pem": _pem(tmp_path), "missing": tmp_path / "nowhere.pem"}
    out = _cli(small_course, *(a.format(**names) for a in args), timeout=120)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(**names) in lines[0], out.stderr
    assert item_scores(small_course.db_url, KIT1) == {}


# -- a running cluster, reached with the operator's certificates --------------------------------

def _openssl(*args, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_credentials(folder: Path, names=("scheduler", "worker", "client")) -> Path:
    """A CA and a certificate per role, made as docs/platforms.md says."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "365", "-subj", "/CN=grading CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    for name in names:
        _openssl("req", "-newkey", "rsa:3072", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "365", "-out", f"{name}.pem", cwd=folder)
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return folder


def _tls(folder: Path, name: str) -> list[str]:
    return ["--tls-ca-file", str(folder / "ca.pem"), "--tls-cert", str(folder / f"{name}.pem"),
            "--tls-key", str(folder / f"{name}.key")]


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """`dask scheduler` and `dask worker` started by hand as docs/platforms.md says, on loopback."""
    from distributed import Client
    from distributed.security import Security

    root = tmp_path_factory.mktemp("tls")
    creds = make_credentials(root / "creds")
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
           "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__GIL__ENABLED": "False",
           "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "[]", "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "[]"}
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(root / "scheduler.json"),
             *_tls(creds, "scheduler")], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not (root / "scheduler.json").exists():
            assert time.monotonic() < deadline and started[0].poll() is None, "the scheduler did not start"
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, but give the writer its moment
        address = json.loads((root / "scheduler.json").read_text())["address"]
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--protocol", "tls", "--host",
             "127.0.0.1", "--nworkers", "1", "--nthreads", "1", "--no-dashboard", *_tls(creds, "worker")],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        security = Security(tls_ca_file=str(creds / "ca.pem"), tls_client_cert=str(creds / "client.pem"),
                            tls_client_key=str(creds / "client.key"), require_encryption=True)
        with Client(address, security=security, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
            workers = client.scheduler_info()["workers"]
            addresses = [address, *workers, *(w["nanny"] for w in workers.values())]
            trusted = client.run(os.getpid)
        yield {"address": address, "creds": creds, "addresses": addresses, "trusted": trusted}
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_tls_cluster_grades_through_the_cli_options(tls_cluster, kit_course, tmp_path):
    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    creds = tls_cluster["creds"]
    out = _cli(course, "--dask", tls_cluster["address"], "--dask-tls-ca-file", str(creds / "ca.pem"),
               "--dask-tls-cert", str(creds / "client.pem"), "--dask-tls-key", str(creds / "client.key"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"grading on Dask: {tls_cluster['address']}, 1 workers" in out.stderr
    assert auto_totals(item_scores(course.db_url, KIT1)) == TOTALS


def test_a_tls_cluster_takes_the_credentials_from_dask_config(tls_cluster, kit_course, tmp_path):
    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    creds = tls_cluster["creds"]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(creds / "ca.pem"),
           "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(creds / "client.pem"),
           "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(creds / "client.key")}
    out = _cli(course, "--dask", tls_cluster["address"], "--student", "reference", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert auto_totals(item_scores(course.db_url, KIT1))["reference"] == TOTALS["reference"]


def test_a_tls_cluster_refuses_whoever_lacks_its_credentials(tls_cluster):
    assert len(tls_cluster["trusted"]) == 1  # the client holding a certificate from its CA runs code
    assert all(a.startswith("tls://127.0.0.1:") for a in tls_cluster["addresses"])
    for mode in ("plain", "foreign"):
        got = attack(mode, tls_cluster["addresses"])
        ran = {address: r["ran_as"] for address, r in got.items() if r["ran_as"] is not None}
        assert ran == {}, f"{mode}: code ran on the cluster as uid {ran}"


def test_a_certificate_from_another_ca_is_one_clear_error(tls_cluster, kit_course, tmp_path, monkeypatch):
    from coursekit.autograde import cluster
    from coursekit.autograde.run import autograde
    from coursekit.course import CourseError

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 5)
    other = make_credentials(tmp_path / "other", names=("client",))
    course = copy_course(kit_course, tmp_path / "course")
    make_samples(KIT1, course)
    target = cluster.DaskTarget(tls_cluster["address"], ca_file=str(tls_cluster["creds"] / "ca.pem"),
                                cert=str(other / "client.pem"), key=str(other / "client.key"))
    with pytest.raises(CourseError, match="refused this client's credentials"):
        autograde(KIT1, course, jobs=1, config=GraderConfig.for_assignment(KIT1), progress=False, dask=target)
    assert item_scores(course.db_url, KIT1) == {}  # nothing recorded
