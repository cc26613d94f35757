"""`course`: the instructor's command line, run in (or with --course) a course directory.

    course new A             scaffold a new assignment in source/A that validates and releases
    course add A KIND        add an item (library, cell, written) to A: declaration, cells, check
    course validate A        refuse a broken source before anything leaves it
    course release A         student folder in release/A (no solutions, no hidden tests)
    course collect A DIR     import the students' hand-in zips into submitted/
    course autograde A       grade submitted/*/A (sandboxed, parallel; --dask: on a cluster) into the gradebook
    course export A          class CSV of per-item scores
    course gradescope A      autograder.zip that grades a hand-in on Gradescope the same way
    course similarity A      which hand-ins share code (copydetect): similarity/A/report.html, pairs.csv
    course mutants A         which typical mistakes in the reference the checks let through (mutants/A.json)
    course demo              the whole pipeline on built-in sample submissions
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from coursekit.assignment import REPO
from coursekit.safefs import printable
from coursekit.course import Course, CourseError

LINE_LIMIT = 2000  # characters of one line printed from text a student may have made


def _course(args: argparse.Namespace) -> Course:
    root = Path(args.course or ".").resolve()
    if not root.is_dir():
        raise CourseError(f"{root}: no such course directory")
    course = Course(root, db_url=args.db or "")
    course.check_settings()
    note = course.order_note()
    if note and root not in _NOTED:  # once per command, however often it looks at the course
        _NOTED.add(root)
        print(f"course {args.command}: {note}", file=sys.stderr)
    return course


_NOTED: set[Path] = set()


def get_assignment(args: argparse.Namespace):
    """The assignment named on the command line, from the course's declaration (one-line error)."""
    return _course(args).assignment(args.assignment)


def cmd_new(args: argparse.Namespace) -> int:
    from coursekit.scaffold import scaffold

    root = Path(args.course or ".").resolve()
    for path in scaffold(root, args.assignment, package=args.package, after=args.after, before=args.before):
        print(f"wrote {path.relative_to(root)}")
    print(f"\nnext: course validate {args.assignment} && course release {args.assignment}"
          f"  (more items: course add {args.assignment} library|cell|written)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from coursekit.scaffold import add_item

    root = _course(args).repo
    for path in add_item(root, args.assignment, args.kind, grade_id=args.grade_id, points=args.points,
                         notebook=args.notebook):
        print(f"wrote {path.relative_to(root)}")
    print(f"\nnext: edit the new item's statement, check and solution, then course validate {args.assignment}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from coursekit.validate import validate

    problems = validate(get_assignment(args), _course(args).repo)
    for p in problems:
        print(p)
    if problems:
        raise CourseError(f"{args.assignment}: {len(problems)} problem(s) in the source; nothing released")
    print(f"{args.assignment}: source is valid")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from coursekit.release import LeakError, release
    from coursekit.validate import ValidationError

    try:
        out = release(get_assignment(args), _course(args), force=args.force)
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem)
        raise CourseError(f"{args.assignment}: {len(exc.problems)} problem(s) in the source; nothing released "
                          "(the course is as it was)") from None
    except LeakError as exc:
        for leak in exc.leaks:  # the course's own files and lines, one finding a line
            print(printable(leak, LINE_LIMIT))
        raise CourseError(f"{args.assignment}: the release leaks {len(exc.leaks)} line(s) or part(s) above; "
                          "nothing released (the course is as it was)") from None
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"released {args.assignment} to {out}: {files} files scanned, no solution, hidden test, model answer "
          "or later assignment's part in any")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from coursekit.collect import DEFAULT_PATTERN, Naming, collect, print_report, read_roster

    naming = Naming(pattern=args.name_pattern or DEFAULT_PATTERN, timestamp_format=args.timestamp_format or "",
                    timezone=args.timezone)
    roster = read_roster(Path(args.roster)) if args.roster else None
    report = collect(get_assignment(args), _course(args), Path(args.folder), naming=naming,
                     roster=roster)
    print_report(report, args.assignment)
    return 1 if report.refused else 0


def cmd_autograde(args: argparse.Namespace) -> int:
    assignment, course = get_assignment(args), _course(args)
    if args.engine == "nbgrader" and args.executor not in (None, "nbgrader"):
        raise CourseError(f"--engine nbgrader is --executor nbgrader, not --executor {args.executor}")
    from coursekit.autograde.executors import executor_for

    # Here, before anything starts: an unknown name, or a cluster the kit may not use.
    executor = executor_for(args.executor or ("nbgrader" if args.engine == "nbgrader" else None),
                            dask=_dask_target(args))
    from coursekit.autograde.grader import GraderConfig
    from coursekit.autograde.run import autograde
    from coursekit.safefs import printable

    config = GraderConfig.for_assignment(assignment, require_sandbox=not args.allow_unsandboxed,
                                         backend=args.sandbox or "")
    summary = autograde(assignment, course, jobs=args.jobs, students=args.student or None,
                        force=args.force, config=config, executor=executor)
    cmd_scores(args)
    print(f"\ngraded {len(summary.graded)}, unchanged {len(summary.skipped)}, failed {len(summary.failed)}"
          + (f", not graded {len(summary.refused)}" if summary.refused else ""))
    for student, why in [*summary.failed.items(), *summary.refused.items()]:
        print(f"  {printable(student)}: {printable(why, LINE_LIMIT)}", file=sys.stderr)
    return 1 if summary.failed else 0  # only the kit's failures: a student's folder is theirs to fix


def _dask_target(args: argparse.Namespace):
    """--dask and its credentials, checked before anything starts (None: the local pool)."""
    tls = {"ca_file": args.dask_tls_ca_file, "cert": args.dask_tls_cert, "key": args.dask_tls_key}
    if args.dask is None:
        if any(tls.values()) or args.dask_insecure:
            raise CourseError("--dask-tls-* and --dask-insecure need --dask ADDRESS")
        return None
    from coursekit.autograde.cluster import DaskTarget, check_target

    return check_target(DaskTarget(args.dask, insecure=args.dask_insecure, **tls))


def cmd_scores(args: argparse.Namespace) -> int:
    from coursekit.gradebook import item_scores, score_table

    assignment, course = get_assignment(args), _course(args)
    print(score_table(item_scores(course.db_url, assignment), assignment))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from coursekit.gradebook import item_scores, write_csv

    assignment, course = get_assignment(args), _course(args)
    out = Path(args.output or course.root / f"{assignment.name}_grades.csv")
    write_csv(item_scores(course.db_url, assignment), assignment, out)
    print(f"wrote {out}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from coursekit.gradescope import build

    assignment, course = get_assignment(args), _course(args)
    out = Path(args.output or course.root / f"{assignment.name}_autograder.zip")
    build(assignment, course, out, allow_unsandboxed=args.allow_unsandboxed)
    print(f"wrote {out} (upload it as the assignment's autograder on Gradescope)")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    from coursekit.similarity import THRESHOLD, compare, top_table

    assignment, course = get_assignment(args), _course(args)
    threshold = THRESHOLD if args.threshold is None else args.threshold
    if not 0 <= threshold <= 1:
        raise CourseError(f"--threshold {threshold:g}: must be between 0 and 1")
    result = compare(assignment, course, threshold=threshold, progress=True)
    for problem in result.problems:
        print(printable(problem, LINE_LIMIT), file=sys.stderr)
    print(top_table(result, args.top))
    print(f"\n{len(result.pairs)} pairs, {len(result.flagged)} above the threshold {threshold:g} "
          "(a signal to read the code, not a verdict)")
    print(f"wrote {result.folder / 'report.html'} and {result.folder / 'pairs.csv'}")
    return 0


def cmd_mutants(args: argparse.Namespace) -> int:
    assignment, course = get_assignment(args), _course(args)
    from coursekit.autograde.grader import GraderConfig
    from coursekit.mutants import run_mutants, table, write_json

    config = GraderConfig.for_assignment(assignment, require_sandbox=not args.allow_unsandboxed,
                                         backend=args.sandbox or "")
    second = Path(args.variants_from).resolve() if args.variants_from else None
    report = run_mutants(assignment, course, items=tuple(args.item or ()), jobs=args.jobs, config=config,
                         progress=sys.stderr.isatty(), variants=args.variants or second is not None,
                         second_reference=second, limit=args.limit)
    print(table(report, lambda text: printable(text, LINE_LIMIT)))
    out = write_json(report, Path(args.json) if args.json else course.root / "mutants" / f"{assignment.name}.json")
    print(f"\nwrote {out}")
    if report.variants is not None:
        return 1 if any(v["lost"] for v in report.variants) else 0
    errors = [m for m in report.mutants if m["status"] == "error"]
    if errors:
        return 1  # the kit could not grade some mutant: the figures are not the checks' own
    return 1 if args.threshold is not None and report.totals["score"] < args.threshold else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from coursekit.demo import run_demo

    run_demo(Path(args.folder))
    return 0


def cmd_fixtures(args: argparse.Namespace) -> int:
    from coursekit.fixtures import RTOL, build, differences, load, regenerate

    course = _course(args)
    names = args.assignments or course.assignments()
    if not names:
        raise CourseError(f"{course.repo}: no assignment declared (source/<name>/assignment.toml)")
    differing = 0
    for name in names:
        assignment = course.assignment(name)
        if not assignment.fixture:
            print(f"{name}: declares no fixture")
            continue
        path = course.source_file(assignment.fixture)
        if args.check:
            found = differences(load(path), build(assignment, course.repo)) if path.is_file() else ["missing"]
            for line in found:
                print(f"{path}: {line}")
            print(f"{path}: {'differs from' if found else 'matches'} a fresh build (float tolerance {RTOL:g})")
            differing += bool(found)
            continue
        where, written = regenerate(assignment, course.repo)
        print(f"{'wrote' if written else 'unchanged (within tolerance):'} {where}")
    return 1 if differing else 0


def _sandbox_options(p: argparse.ArgumentParser) -> None:
    """How the student's code is wrapped: the same two options wherever the kit grades."""
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help="grade even where bubblewrap is unavailable (rlimits only; see docs/security.md)")
    p.add_argument("--sandbox", metavar="BACKEND",
                   help="how the student's code is wrapped: bubblewrap (default where it works) or limits-only "
                        "(needs --allow-unsandboxed), or a registered or module:attribute backend")


def build_parser() -> argparse.ArgumentParser:
    # --course and --db are accepted before the subcommand and after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", default=argparse.SUPPRESS,
                        help="the course directory (default: the current directory)")
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help="gradebook URL (default: sqlite:///<course>/gradebook.db)")
    parser = argparse.ArgumentParser(prog="course", description=__doc__, parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str, assignment: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=[common])
        if assignment:
            p.add_argument("assignment")
        p.set_defaults(func=func)
        return p

    p = add("new", cmd_new, "scaffold a new assignment (declaration, notebook, checks) in source/<assignment>")
    p.add_argument("--package", default="mytorch", help="the course's library package (default: mytorch)")
    place = p.add_mutually_exclusive_group()
    place.add_argument("--after", metavar="A", help="teach it right after assignment A (course.toml's order; "
                                                    "default: last)")
    place.add_argument("--before", metavar="A", help="teach it right before assignment A")
    p = add("add", cmd_add, "add one item of a kind to an assignment: its declaration, cells, check (and file)")
    p.add_argument("kind", choices=("library", "cell", "written"),
                   help="library: code in a library file; cell: code in a notebook cell; written: graded by hand")
    p.add_argument("--grade-id", help="the item's grade id, a Python name (default: <kind><n>)")
    p.add_argument("--points", type=int, default=2, help="its points (default: 2)")
    p.add_argument("--notebook", help="the tester notebook that gets its cells (default: the last one)")

    add("validate", cmd_validate, "check markers, grade ids and points of the source")
    p = add("release", cmd_release, "build the student folder release/<assignment>")
    p.add_argument("--force", action="store_true", help="replace an existing release")
    p = add("collect", cmd_collect, "import hand-in zips (from handin.py) into submitted/")
    p.add_argument("folder", help="folder of the course site's <student>.zip or <student>_*.zip files "
                                  "(see coursekit/collect.py)")
    p.add_argument("--name-pattern", metavar="REGEX",
                   help="regular expression matched at the start of each zip's name, with a (?P<student_id>...) "
                        "group and optionally a (?P<timestamp>...) group, as nbgrader's zip_collect "
                        "named_regexp (default: <student>.zip or <student>_<anything>.zip)")
    p.add_argument("--timestamp-format", metavar="FORMAT",
                   help="strptime format of the name's timestamp group, e.g. %%Y-%%m-%%d-%%H-%%M-%%S "
                        "(default: read as nbgrader does); without a timestamp group the hand-in time is "
                        "the zip's modification time")
    p.add_argument("--timezone", default="UTC", metavar="TZ",
                   help="time zone of a timestamp in the name that has none, e.g. Europe/Berlin (default: UTC)")
    p.add_argument("--roster", metavar="FILE",
                   help="text or CSV file of the course's student ids; zips of other ids are refused")
    p = add("autograde", cmd_autograde, "grade every submission in submitted/")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("-j", "--jobs", type=int, help="parallel workers (default: one per core)")
    p.add_argument("--force", action="store_true", help="regrade submissions that have not changed")
    p.add_argument("--engine", choices=("sandbox", "nbgrader"), default="sandbox",
                   help="sandbox: checks run outside the student's process (default); "
                        "nbgrader: plain nbgrader autograde, tests in the student's kernel")
    _sandbox_options(p)
    p.add_argument("--executor", metavar="NAME",
                   help="where submissions are graded: pool (local processes, the default), dask (with --dask; "
                        "default local), nbgrader (as --engine nbgrader), or a registered or module:attribute one")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="grade on a Dask cluster: a TLS scheduler's address (tls://host:8786, with --dask-tls-*), "
                        "or 'local' for a cluster of --jobs worker processes here, TLS on loopback "
                        "(see docs/platforms.md)")
    p.add_argument("--dask-tls-ca-file", metavar="PEM", help="the cluster's CA certificate")
    p.add_argument("--dask-tls-cert", metavar="PEM", help="this client's certificate, signed by that CA")
    p.add_argument("--dask-tls-key", metavar="PEM", help="this client's private key (unencrypted)")
    p.add_argument("--dask-insecure", action="store_true",
                   help="accept a plain tcp:// scheduler: anyone who can reach it runs code on its workers")
    add("scores", cmd_scores, "print the per-student, per-item score table")
    p = add("export", cmd_export, "write the class CSV of per-item scores")
    p.add_argument("-o", "--output", help="CSV path (default: <course>/<assignment>_grades.csv)")
    p = add("gradescope", cmd_gradescope, "write the Gradescope autograder.zip for an assignment")
    p.add_argument("-o", "--output", help="zip path (default: <course>/<assignment>_autograder.zip)")
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help="where bubblewrap cannot start in Gradescope's container, grade with resource limits "
                        "only (default: report that the grader failed)")
    p = add("similarity", cmd_similarity, "report which hand-ins share code (copydetect) in similarity/<assignment>")
    p.add_argument("--top", type=int, default=10, metavar="N", help="pairs shown on the terminal (default: 10)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="similarity above which a pair is flagged for a look (default: coursekit.similarity.THRESHOLD)")
    p = add("mutants", cmd_mutants, "grade single-change mutants of the reference: what the checks let through")
    p.add_argument("--item", action="append", metavar="GRADE_ID",
                   help="only the code this item runs, and only this item in the table (repeatable)")
    p.add_argument("--threshold", type=float, metavar="PERCENT",
                   help="exit 1 if fewer than PERCENT %% of the non-equivalent mutants are killed (for CI)")
    p.add_argument("-j", "--jobs", type=int, help="parallel workers (default: one per core)")
    p.add_argument("--json", metavar="PATH", help="the JSON report (default: <course>/mutants/<assignment>.json)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N mutants (a quick look)")
    p.add_argument("--variants", action="store_true",
                   help="grade the samples module's VARIANTS (correct alternatives) instead; exit 1 if one "
                        "loses points")
    p.add_argument("--variants-from", metavar="FOLDER",
                   help="with --variants: also each student file and solution cell of a second reference "
                        "folder (the release's layout), one at a time")
    _sandbox_options(p)
    p = add("demo", cmd_demo, "run the whole pipeline on sample submissions", assignment=False)
    p.add_argument("--folder", default=str(REPO / "demo"), help="course root for the demo (default: demo/)")
    p = add("fixtures", cmd_fixtures, "regenerate each assignment's fixture (kept if within tolerance)",
            assignment=False)
    p.add_argument("assignments", nargs="*", help="which assignments (default: all)")
    p.add_argument("--check", action="store_true",
                   help="compare the stored fixtures with a fresh build; exit 1 if they differ")
    return parser


def interpreter_bin_on_path() -> None:
    """Put this Python's bin folder first on PATH: nbgrader runs ``alembic`` from PATH when it creates a
    gradebook (in this process, or in the nbgrader it starts), and ``.venv/bin/course`` run without
    activating the environment must find the one installed next to it."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interpreter_bin_on_path()
    args.course, args.db = getattr(args, "course", None), getattr(args, "db", None)
    try:
        return args.func(args)
    except (CourseError, KeyError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        # Errors can quote a hand-in's file names: one line, control characters escaped.
        print(f"course {args.command}: error: {printable(str(message), LINE_LIMIT)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
