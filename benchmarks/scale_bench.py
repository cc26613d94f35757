"""A class of 1,000: `course autograde` on the local pool and on a local Dask cluster.

    python benchmarks/scale_bench.py [--sizes 100,300,1000] [--jobs 2] [--sample 3] [--plot FILE]

Builds a throw-away course (hw1 released) and, for each size, that many
submissions: reference, blank and typical-mistakes hand-ins in turn, and
every 25th one hostile (tests/hostile.py: endless loops, memory and process
bombs, forged answers, hostile folders and notebooks, ...).  Each size is
graded from scratch by the local process pool and by a local Dask cluster
with real scheduler and worker processes (`--dask local`), sandboxed, every
hidden check run.  Every grade is compared with its hand-worked expectation
(reference 35, blank 0, typical mistakes 30, a hostile one 35 minus the items
its change breaks), and plain `nbgrader autograde` grades a small sample for
the ratio.  Prints submissions per second and seconds per submission for each
engine and size, the ratio to plain nbgrader, and how the time grows.

Goal: the 1,000 in under 5 minutes on 2 cores with either engine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from coursekit.assignment import load_assignment  # noqa: E402

HW1 = load_assignment(REPO, "hw1")
HOSTILE_EVERY = 25
GOAL_SECONDS = 300


def build_class(base, root: Path, n: int) -> tuple:
    """A copy of the released course ``base`` with ``n`` submissions; student -> expected total."""
    from coursekit.course import Course

    from hostile import HOSTILE, build

    shutil.copytree(base.root, root, symlinks=True, ignore=shutil.ignore_patterns("submitted"))
    course = Course(root)
    samples = base.root / "submitted"  # the three samples make_samples wrote
    kinds = [("reference", 35), ("blank", 0), ("buggy", 30)]
    expected, hostile_k = {}, 0
    for i in range(n):
        student = f"s{i:04d}"
        dest = course.folder("submitted", "hw1", student)
        if i % HOSTILE_EVERY == HOSTILE_EVERY - 1:
            hostile = HOSTILE[hostile_k % len(HOSTILE)]
            hostile_k += 1
            build(hostile, course.folder("release", "hw1"), course.repo, dest)
            expected[student] = (hostile.name, hostile.expected())
        else:
            kind, points = kinds[i % 3]
            shutil.copytree(samples / kind / "hw1", dest, symlinks=True)
            expected[student] = (kind, points)
    return course, expected


def remove(root: Path) -> None:
    # Hostile folders are deeper than shutil.rmtree recurses; GNU rm walks any depth.
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


def grade(course, engine: str, jobs: int) -> tuple[float, object]:
    from coursekit.autograde.grader import GraderConfig
    from coursekit.autograde.run import autograde

    start = time.perf_counter()
    summary = autograde(HW1, course, jobs=jobs, config=GraderConfig.for_assignment(HW1),
                        dask="local" if engine == "dask" else None)
    return time.perf_counter() - start, summary


def check(course, expected: dict) -> list[str]:
    from coursekit.gradebook import item_scores

    scores = item_scores(course.db_url, HW1)
    wrong = []
    for student, (kind, points) in expected.items():
        got = sum(scores.get(student, {}).values()) if student in scores else None
        if got != points:
            wrong.append(f"{student} ({kind}): {got} instead of {points}")
    return wrong


def plain_sample(base, root: Path, n: int) -> float:
    """Seconds per submission of plain nbgrader autograde on the first ``n`` samples."""
    from coursekit.autograde.plain import autograde as plain

    course, _ = build_class(base, root, n)
    start = time.perf_counter()
    plain(HW1, course)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--engines", default="pool,dask")
    parser.add_argument("--sample", type=int, default=3, help="submissions plain nbgrader grades (0: skip)")
    parser.add_argument("--plot", help="write the growth plot (seconds against submissions) here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")

    from coursekit.course import Course
    from coursekit.release import release
    from coursekit.samples import make_samples

    tmp = Path(tempfile.mkdtemp(prefix="coursekit-scale-"))
    rows = []
    try:
        base = Course.copy_of(REPO, tmp / "base")
        release(HW1, base, force=True)
        make_samples(HW1, base)
        for size in sizes:
            for engine in engines:
                course, expected = build_class(base, tmp / f"{engine}{size}", size)
                print(f"\n== {engine}, {size} submissions ==", file=sys.stderr)
                seconds, summary = grade(course, engine, args.jobs)
                wrong = check(course, expected) + [f"{s}: {why}" for s, why in summary.failed.items()]
                rows.append((engine, size, seconds, wrong))
                remove(course.root)
        per_plain = plain_sample(base, tmp / "plain", args.sample) if args.sample else None
    finally:
        remove(tmp)

    print(f"\nhw1, {args.jobs} jobs on {os.cpu_count()} cores; every {HOSTILE_EVERY}th submission hostile; "
          f"sandboxed, every hidden check run")
    print(f"{'engine':<7}{'submissions':>12}{'seconds':>9}{'per second':>12}{'s/submission':>14}"
          f"{'vs nbgrader':>13}  grades as expected")
    for engine, size, seconds, wrong in rows:
        ratio = f"{per_plain / (seconds / size):.0f}x" if per_plain else "-"
        print(f"{engine:<7}{size:>12}{seconds:>9.1f}{size / seconds:>12.2f}{seconds / size:>14.3f}{ratio:>13}  "
              f"{'all' if not wrong else f'{len(wrong)} NOT: ' + '; '.join(wrong[:5])}")
    if per_plain:
        print(f"plain nbgrader autograde (serial, in the student's kernel), {args.sample} submissions: "
              f"{per_plain:.2f} s/submission")
    for engine in engines:
        mine = sorted((size, seconds) for e, size, seconds, _ in rows if e == engine)
        if len(mine) > 1:
            (n0, t0), (n1, t1) = mine[0], mine[-1]
            print(f"growth, {engine}: {n1 / n0:.0f}x the submissions took {t1 / t0:.1f}x the time "
                  f"({(t1 - t0) / (n1 - n0):.3f} s per extra submission)")
        largest = [seconds for size, seconds in mine if size >= 1000]
        if largest:
            print(f"goal, {engine}: 1,000 in {largest[0]:.0f} s: {'met' if largest[0] < GOAL_SECONDS else 'NOT met'} "
                  f"(< {GOAL_SECONDS} s)")
    if args.plot:
        plot(rows, engines, Path(args.plot))


def plot(rows: list, engines: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for engine in engines:
        points = sorted((size, seconds) for e, size, seconds, _ in rows if e == engine)
        ax.plot(*zip(*points), marker="o", label="local pool" if engine == "pool" else "local Dask cluster")
    ax.axhline(GOAL_SECONDS, color="grey", linestyle="--", label="goal: 1,000 in 5 min")
    ax.set_xlabel("submissions")
    ax.set_ylabel("seconds, start to last grade recorded")
    ax.set_title("course autograde hw1, 2 cores, sandboxed")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
