"""Plain `nbgrader autograde` against `course autograde --jobs 2`, on the same submissions.

    python benchmarks/autograde_bench.py [--submissions 20] [--jobs 2]

Builds a throw-away course (release of hw1, N submissions cycling through
reference / blank / buggy), grades it both ways in one run, checks that
both give every student the same total, and prints seconds per submission
and the ratio.  Goal: the sandboxed grader at least 10x faster while running
every hidden check.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coursekit.assignment import load_assignment  # noqa: E402

HW1 = load_assignment(REPO, "hw1")
from coursekit.autograde.plain import autograde as plain_autograde  # noqa: E402
from coursekit.autograde.run import autograde  # noqa: E402
from coursekit.course import Course  # noqa: E402
from coursekit.gradebook import item_scores  # noqa: E402
from coursekit.release import release  # noqa: E402
from coursekit.samples import make_samples  # noqa: E402


def build_course(root: Path, n: int) -> Course:
    course = Course.copy_of(REPO, root)
    release(HW1, course, force=True)
    samples = make_samples(HW1, course)
    kinds = list(samples)
    for i in range(n):
        shutil.copytree(samples[kinds[i % 3]], course.folder("submitted", "hw1", f"student{i:02d}"))
    for folder in samples.values():
        shutil.rmtree(folder.parent)
    return course


def clone(course: Course, root: Path) -> Course:
    shutil.copytree(course.root, root)
    return Course(root)


def totals(course: Course) -> dict[str, float]:
    return {s: sum(v.values()) for s, v in item_scores(course.db_url, HW1).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-") as tmp:
        base = build_course(Path(tmp) / "base", args.submissions)
        ours, theirs = clone(base, Path(tmp) / "ours"), clone(base, Path(tmp) / "theirs")

        start = time.perf_counter()
        failed = plain_autograde(HW1, theirs)
        plain_seconds = time.perf_counter() - start

        start = time.perf_counter()
        summary = autograde(HW1, ours, jobs=args.jobs)
        our_seconds = time.perf_counter() - start

        same = totals(ours) == totals(theirs)
        n = args.submissions
        print(f"\n{n} submissions (reference / blank / buggy in turn), hw1: 14 items, "
              f"{sum(len(c) for c in _cases(ours).values())} checks per submission")
        print(f"  plain nbgrader autograde (serial, in-kernel):   {plain_seconds / n:7.2f} s/submission"
              f"  ({plain_seconds:.1f} s){'  errors: ' + ', '.join(failed) if failed else ''}")
        print(f"  course autograde --jobs {args.jobs} (sandboxed):         {our_seconds / n:7.2f} s/submission"
              f"  ({our_seconds:.1f} s){'  failed: ' + str(summary.failed) if summary.failed else ''}")
        print(f"  speed-up: {plain_seconds / our_seconds:.1f}x (goal: >= 10x)")
        print(f"  same totals for every student: {same}")


def _cases(course: Course):
    from coursekit.autograde.cases import read_cases

    return read_cases(HW1, course.folder("source", "hw1"))


if __name__ == "__main__":
    main()
