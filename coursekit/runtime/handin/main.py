"""`python handin.py`: run the testers, then write the zip to upload and the PDF.

    python handin.py                               # asks your name and student id once
    python handin.py --name "Ada Lovelace" --id s1234567
    python handin.py --engine latex                # print through LaTeX (needs pandoc + XeLaTeX)

Writes ``<assignment>_handin.zip`` (upload this) and ``<assignment>_handin.pdf``
in the assignment folder.  Your name and id are remembered in ``.handin.json``
there (never put in the zip).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from coursekit.runtime.handin.spec import STUDENT_ID, HandinError, HandinSpec

NOTEBOOK_TIMEOUT = 600  # seconds; a training notebook takes ~15

PROFILE = ".handin.json"
FORMAT_VERSION = 1


def main(assignment: dict[str, Any] | HandinSpec, folder: Path | None = None, argv: list[str] | None = None) -> int:
    spec = assignment if isinstance(assignment, HandinSpec) else HandinSpec.from_dict(assignment)
    folder = Path(folder or Path.cwd()).resolve()
    args = parser(spec).parse_args(argv)
    try:
        return handin(spec, folder, args)
    except HandinError as exc:
        print(f"handin: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a read-only folder: say which file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"handin: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("handin: interrupted", file=sys.stderr)
        return 130


def parser(spec: HandinSpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python handin.py", description=__doc__.replace("<assignment>", spec.name),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", help="your name as the course knows it (remembered)")
    p.add_argument("--id", dest="student_id", help="your student id (remembered)")
    p.add_argument("--engine", choices=("chromium", "latex"), default="chromium",
                   help="how to print the PDF (default: headless Chromium/Chrome)")
    p.add_argument("--browser", help="Chromium or Chrome to print with (default: found on PATH)")
    p.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT,
                   help=f"seconds one notebook may run (default: {NOTEBOOK_TIMEOUT})")
    p.add_argument("-j", "--jobs", type=int, help="notebooks run at once (default: by cores, 2 to 4)")
    p.add_argument("--no-pdf", action="store_true", help="only run the notebooks and write the zip")
    return p


def handin(spec: HandinSpec, folder: Path, args: argparse.Namespace) -> int:
    # Heavy imports only after the arguments are known: --help stays instant.
    _skip_slow_optional_imports()
    from coursekit.runtime.handin.pdf import Renderer

    start = time.monotonic()
    missing = [nb for nb in spec.notebook_files() if not (folder / nb).is_file()]
    if len(missing) == len(spec.notebooks):
        raise HandinError(f"{folder} has none of the {spec.name} notebooks; run handin.py in the assignment folder")
    profile = identity(folder, args.name, args.student_id)
    # Checked before the notebooks run, so a missing browser costs seconds, not minutes.
    renderer = None if args.no_pdf else Renderer(folder, spec, args.engine, args.browser)
    try:
        return _handin(spec, folder, args, profile, renderer, start)
    finally:
        if renderer:
            renderer.close()


def _handin(spec: HandinSpec, folder: Path, args: argparse.Namespace, profile: dict[str, Any],
            renderer: Any, start: float) -> int:
    import nbformat

    from coursekit.runtime.checks import shipped_facts
    from coursekit.runtime.handin.bundle import verify_zip, write_zip
    from coursekit.runtime.handin.document import read_sources
    from coursekit.runtime.handin.prediction import Prediction, summary_lines
    from coursekit.runtime.handin.run import run_notebooks

    name, student_id = profile["name"], profile["id"]
    print(f"{spec.name} hand-in for {name} ({student_id})")
    print(f"running {len(spec.notebooks)} notebooks ...", flush=True)
    width = max(len(n) for n in spec.notebooks)

    def done(run) -> None:
        print("  " + notebook_line(run, width), flush=True)
        if renderer:
            renderer.add(run)  # converted now, while the other notebooks still run

    items = [i for i in shipped_facts().get("items", []) if isinstance(i, dict) and "grade_id" in i]
    # The grade prediction runs beside the notebooks, in a process of its own.
    prediction = Prediction(folder, items) if items else None
    ran = time.monotonic()
    try:
        runs = run_notebooks(folder, spec, timeout=args.timeout, jobs=args.jobs,
                             order=slowest_first(profile, spec, folder), on_done=done)
        predicted = prediction.results() if prediction else []
    finally:
        if prediction:
            prediction.close()
    ran = time.monotonic() - ran
    remember(folder, {**profile, "seconds": {r.name: round(r.seconds, 1) for r in runs if not r.problem}})

    zipped = time.monotonic()
    zip_path = folder / spec.zip_name
    meta = {"format": FORMAT_VERSION, "assignment": spec.name, "name": name, "id": student_id,
            "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "notebooks": {r.name: r.summary() for r in runs},
            "predicted": {r["grade_id"]: "pass" if r["ok"] else "fail" for r in predicted}}
    executed = {r.name: nbformat.writes(r.notebook).encode("utf-8") for r in runs if r.notebook is not None}
    files = write_zip(folder, spec, executed, meta, zip_path)
    zip_problems = verify_zip(zip_path, spec)
    zipped = time.monotonic() - zipped

    pdf_problems: list[str] = []
    pdf_line, timing = "not written (--no-pdf)", ""
    if renderer:
        pdf_path = folder / spec.pdf_name
        try:
            result = renderer.render(runs, name, student_id, read_sources(folder, spec), pdf_path)
            pdf_problems, pdf_line = result.problems, pdf_path.name
            timing = f", pdf {result.print_seconds:.1f} s + {result.convert_seconds:.1f} s during the notebooks"
        except HandinError as exc:
            pdf_problems, pdf_line = [str(exc)], "NOT written"

    warnings = [f"{r.name}: {r.problem}" for r in runs if r.problem]
    warnings += [f"{r.name}: {e}" for r in runs for e in r.errors]
    warnings += [f"{r.name}: graded cell {g} was edited; the grader uses the original" for r in runs for g in r.edited]
    print(f"\nzip: {zip_path.name} ({len(files)} files), "
          + ("layout checked: upload this file" if not zip_problems else "HAS PROBLEMS, see below"))
    print(f"pdf: {pdf_line}")
    print(f"notebooks: {sum(r.points for r in runs):g} / {sum(r.total for r in runs):g} points of graded cells pass")
    if predicted:
        print("\ngrade prediction (the grader's rules, each item's visible case and fresh random cases):")
        for line in summary_lines(predicted, [i for i in items if i.get("manual")]):
            print(line)
    print(f"took {time.monotonic() - start:.1f} s (notebooks {ran:.1f} s, zip {zipped:.1f} s{timing})")
    if warnings or pdf_problems or zip_problems:
        print("\nERROR:" if zip_problems else "\nWARNING:", file=sys.stderr)
        for line in zip_problems + pdf_problems + warnings:
            print(f"  - {line}", file=sys.stderr)
    return 1 if zip_problems or pdf_line == "NOT written" else 0


def notebook_line(run, width: int) -> str:
    name = run.name.ljust(width)
    if run.problem:
        return f"{name}  PROBLEM: {run.problem}"
    ok = sum(c.status == "pass" for c in run.graded)
    checks = f"{ok}/{len(run.graded)} checks pass, {run.points:g}/{run.total:g} points" if run.graded else "not graded"
    failed = [c.grade_id for c in run.graded if c.status != "pass"]
    extra = (f"; failing: {', '.join(failed)}" if failed else "") + (
        f"; {len(run.errors)} cell(s) raised an error" if run.errors else "")
    return f"{name}  {checks}{extra}  ({run.seconds:.1f} s)"


# --- who is handing in ------------------------------------------------------------------


def identity(folder: Path, name: str | None, student_id: str | None) -> dict[str, Any]:
    """Name and id from the options, else remembered, else asked (once); saved for next time."""
    saved = load_profile(folder)
    name = (name or saved.get("name") or "").strip() or _ask("Your name: ")
    student_id = (student_id or saved.get("id") or "").strip() or _ask("Your student id: ")
    if not STUDENT_ID.match(student_id):
        raise HandinError(f"student id {student_id!r}: use letters, digits and . _ @ - only "
                          "(as your course lists it)")
    profile = {**saved, "name": name, "id": student_id}
    remember(folder, profile)
    return profile


def _ask(prompt: str) -> str:
    if not sys.stdin or not sys.stdin.isatty():
        raise HandinError("no name or student id yet: run `python handin.py --name \"Your Name\" --id YOUR_ID`")
    answer = input(prompt).strip()
    if not answer:
        raise HandinError("a name and a student id are needed to hand in")
    return answer


def load_profile(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / PROFILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(folder: Path, profile: dict[str, Any]) -> None:
    try:
        (folder / PROFILE).write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
    except OSError:
        pass  # a read-only folder only means being asked again next time


def slowest_first(profile: dict[str, Any], spec: HandinSpec, folder: Path) -> list[str]:
    """Start the notebooks that took longest last time first: the run ends sooner.

    Before any run, guess: notebooks without graded cells are the demos
    (training, plots), which take longest."""
    seconds = profile.get("seconds") if isinstance(profile.get("seconds"), dict) else {}
    known = {n: float(s) for n, s in seconds.items() if n in spec.notebooks and isinstance(s, (int, float))}
    if len(known) == len(spec.notebooks):
        return sorted(spec.notebooks, key=lambda n: -known[n])

    def graded(name: str) -> bool:
        try:
            return '"grade": true' in (folder / f"{name}.ipynb").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return True
    return sorted(spec.notebooks, key=graded)


def _skip_slow_optional_imports() -> None:
    """jsonschema (via nbformat) imports rfc3987_syntax, whose grammar takes ~3 s to build,
    only to check URI formats that notebooks never use; skip it unless already loaded."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
