"""`course mutants A`: how many typical mistakes the assignment's checks catch.

Every solution region of the reference — the library files as the assignment
scopes them, and the notebook solution cells whose code items run — is changed
in one place at a time by the operators below, each a mistake students make.
Each such *mutant* is handed in in place of the reference and graded by the
real grader (sandboxed, ``-j`` at a time; the mutants of one file share one
prepared grader per worker).  The same run also *probes* the mutant: its
items' code runs on extra inputs the hidden cases never use (other seeds, a
batch of one, shapes made non-square, values scaled to near-degenerate), and
its answers are compared with the reference's there.

A mutant is then

* ``killed``: some item it reaches loses points;
* ``survived``: no item loses points, yet some answer differs from the
  reference's (on a graded case within the checks' tolerance, or on a probe):
  either a gap in the checks, or a difference no network meets — the author
  decides, with the diff and the cases it differs on;
* ``equivalent (probe)``: no answer differs anywhere; most likely a change of
  no consequence (``x.T.T``, a sum over a single axis).

``--variants`` grades correct alternatives instead: the ``VARIANTS`` of the
assignment's samples module (``(file, reference text, other correct text)``,
the shape of its ``BUGS`` with nothing to lose) and the files of a second
reference folder; every item a correct variant loses is reported.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from coursekit.assignment import Assignment, Item
from coursekit.autograde.cases import read_cases
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.course import Course, CourseError
from coursekit.library.markers import SOLUTION, find_regions
from coursekit.library.view import reference_file
from coursekit.runtime.checks import Arrays, load_checks
from coursekit.samples import copy_release, hand_in_reference, model_solution, typical_bugs

# name -> the mistake it makes (docs/authoring.md lists the same)
OPERATORS: dict[str, str] = {
    "axis": "a reduction's axis swapped (0 <-> 1, -1 -> 0)",
    "axis-dropped": "the axis argument dropped: a reduction over every element",
    "keepdims": "keepdims=True dropped",
    "transpose": "a .T dropped",
    "operands": "the operands of @ swapped",
    "divisor": "a division dropped (a / b -> a): a mean's N, a bias correction, a normalisation",
    "eps": "eps dropped, or moved out of the square root (sqrt(v + eps) -> sqrt(v) + eps)",
    "sign": "a sign flipped: + <-> -, a unary minus dropped",
    "off-by-one": "a slice bound, range() bound or exponent off by one",
    "reduction": "mean <-> sum",
    "compare": "a comparison's boundary moved (> <-> >=, < <-> <=)",
    "square": "a square dropped (x ** 2 -> x)",
    "stale": "an assignment to the object's state dropped (a running average, momentum, a cache not updated)",
    "copy": "a .copy() dropped (state aliased to the caller's array)",
    "extra-axis": "an array made with an extra axis (np.zeros(n) -> np.zeros((n, 1)))",
    "float32": "an array made in float32 (np.zeros(n) -> np.zeros(n, dtype=np.float32))",
}
MAKERS = ("zeros", "ones", "empty", "full", "zeros_like", "ones_like", "array", "asarray")

KILLED, SURVIVED, EQUIVALENT = "killed", "survived", "equivalent (probe)"
# Answers this close to the reference's are the same behaviour (a sum's order, not a mistake).
SAME_RTOL, SAME_ATOL = 1e-9, 1e-12
TINY = 1e-4  # the near-degenerate probe: values this small make a variance meet eps


# -- targets and mutants -------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Code a student writes that items run: a library file, or a notebook solution cell."""
    key: str                 # the file's path, or "<notebook>.ipynb:<cell>"
    source: str              # the reference, solution markers included
    items: tuple[str, ...]   # grade ids of the items that run it
    notebook: str = ""       # for a cell
    cell: str = ""

    def handed_in(self, text: str) -> str:
        """What a student hands in for ``text`` (a cell without its solution markers)."""
        return model_solution(text) if self.cell else text


@dataclass(frozen=True)
class Mutant:
    id: str
    target: str
    operator: str
    line: int      # 1-based, in the target's reference
    before: str
    after: str
    text: str      # the whole mutated target

    def diff(self, original: str) -> str:
        lines = difflib.unified_diff(original.splitlines(), self.text.splitlines(), self.target, self.target,
                                     n=1, lineterm="")
        return "\n".join(list(lines)[2:])


def targets(assignment: Assignment, course: Course, items: tuple[str, ...] = ()) -> list[Target]:
    """The assignment's library files and solution cells that its code items run (only those
    that ``items`` run, if given)."""
    wanted = set(items) or {i.grade_id for i in assignment.auto_items}
    unknown = wanted - {i.grade_id for i in assignment.auto_items}
    if unknown:
        raise CourseError(f"{assignment.name} has no autograded item {', '.join(sorted(unknown))}")
    found: list[Target] = []
    for rel in assignment.student_files:
        runs = tuple(i.grade_id for i in assignment.auto_items if not i.cell and rel in i.files)
        if set(runs) & wanted:
            found.append(Target(rel, reference_file(assignment, course.repo, rel), runs))
    for item in assignment.auto_items:
        if item.cell and item.grade_id in wanted:
            nb = nbformat.read(course.repo / "source" / assignment.name / f"{item.notebook}.ipynb", as_version=4)
            source = next(c.source for c in nb.cells
                          if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == item.cell)
            runs = tuple(i.grade_id for i in assignment.auto_items
                         if i.cell == item.cell and i.notebook == item.notebook)
            key = f"{item.notebook}.ipynb:{item.cell}"
            if key not in {t.key for t in found}:
                found.append(Target(key, source, runs, item.notebook, item.cell))
    return found


def solution_lines(source: str) -> set[int]:
    """1-based numbers of the lines inside the solution regions."""
    regions, _ = find_regions(source.split("\n"), SOLUTION)
    return {n + 1 for r in regions for n in range(r.begin + 1, r.end)}


def mutate(target: Target) -> list[Mutant]:
    """Every single-change mutant of the target's solution regions, each text once."""
    lines = solution_lines(target.source)
    tree = ast.parse(target.source)
    seen = {target.source}
    mutants: list[Mutant] = []
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or not all(n in lines for n in range(node.lineno, node.end_lineno + 1)):
            continue
        for operator, replacement in _replacements(node):
            before = ast.get_source_segment(target.source, node) or ""
            after = ast.unparse(replacement)
            text = _splice(target.source, node, after)
            if text in seen:
                continue
            seen.add(text)
            mutants.append(Mutant("", target.key, operator, node.lineno, before, after, text))
    return sorted(mutants, key=lambda m: m.line)  # stable: the walk's order within a line


def _splice(source: str, node: ast.AST, new: str) -> str:
    """``source`` with ``node``'s text replaced by ``new`` (positions are UTF-8 byte offsets)."""
    data = source.encode()
    starts = [0]
    for line in source.encode().splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    begin = starts[node.lineno - 1] + node.col_offset
    end = starts[node.end_lineno - 1] + node.end_col_offset
    return (data[:begin] + new.encode() + data[end:]).decode()


def _is_eps(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "eps" in name.lower()


def _called(node: ast.AST) -> str:
    """The name a call calls (``np.sum`` -> "sum", ``x.mean`` -> "mean")."""
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return ""


def _int_const(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _copy(node: ast.AST, **changes) -> ast.AST:
    new = copy.copy(node)  # shallow: the original tree is never changed
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _shift(node: ast.AST, by: int) -> ast.AST:
    if _int_const(node):
        return ast.Constant(node.value + by)
    return ast.BinOp(node, ast.Add() if by > 0 else ast.Sub(), ast.Constant(abs(by)))


def _replacements(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(operator, what replaces ``node``) for each mutant at ``node``."""
    if isinstance(node, ast.Call):
        for k, kw in enumerate(node.keywords):
            rest = node.keywords[:k] + node.keywords[k + 1:]
            if kw.arg == "axis":
                value = kw.value
                if _int_const(value) or (isinstance(value, ast.UnaryOp) and _int_const(value.operand)):
                    axis = ast.literal_eval(value)
                    swapped = ast.keyword("axis", ast.Constant(1 if axis == 0 else 0))
                    yield "axis", _copy(node, keywords=node.keywords[:k] + [swapped] + node.keywords[k + 1:])
                yield "axis-dropped", _copy(node, keywords=rest)
            if kw.arg == "keepdims" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                yield "keepdims", _copy(node, keywords=rest)
        name = _called(node)
        if name in ("mean", "sum") and isinstance(node.func, ast.Attribute):
            other = "sum" if name == "mean" else "mean"
            yield "reduction", _copy(node, func=_copy(node.func, attr=other))
        if name in MAKERS and node.args and not any(kw.arg == "dtype" for kw in node.keywords):
            if name in ("zeros", "ones", "empty", "full") and not isinstance(node.args[0], (ast.Tuple, ast.List)):
                yield "extra-axis", _copy(node, args=[ast.Tuple([node.args[0], ast.Constant(1)]), *node.args[1:]])
            float32 = ast.keyword("dtype", ast.Attribute(ast.Name("np"), "float32"))
            yield "float32", _copy(node, keywords=[*node.keywords, float32])
        if name == "copy" and isinstance(node.func, ast.Attribute) and not node.args and not node.keywords:
            yield "copy", node.func.value
        if name == "range" and node.args:
            last = node.args[-1] if len(node.args) <= 2 else node.args[1]
            index = node.args.index(last)
            for by in (-1, 1):
                args = list(node.args)
                args[index] = _shift(last, by)
                yield "off-by-one", _copy(node, args=args)
        if name == "sqrt" and len(node.args) == 1 and isinstance(node.args[0], ast.BinOp) \
                and isinstance(node.args[0].op, ast.Add) and _is_eps(node.args[0].right):
            inner = node.args[0]
            yield "eps", ast.BinOp(_copy(node, args=[inner.left]), ast.Add(), inner.right)
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        yield "transpose", node.value
    elif isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub)) and (_is_eps(node.right) or _is_eps(node.left)):
            yield "eps", node.left if _is_eps(node.right) else node.right
        if isinstance(node.op, ast.Add):
            yield "sign", _copy(node, op=ast.Sub())
        elif isinstance(node.op, ast.Sub):
            yield "sign", _copy(node, op=ast.Add())
        elif isinstance(node.op, ast.Div):
            yield "divisor", node.left
        elif isinstance(node.op, ast.MatMult):
            yield "operands", _copy(node, left=node.right, right=node.left)
        elif isinstance(node.op, ast.Pow):
            if isinstance(node.right, ast.Constant) and node.right.value == 2:
                yield "square", node.left
            elif isinstance(node.right, (ast.Name, ast.Attribute)):
                yield "off-by-one", _copy(node, right=_shift(node.right, -1))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign", node.operand
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        swap = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt}.get(type(node.ops[0]))
        if swap:
            yield "compare", _copy(node, ops=[swap()])
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        for bound in ("lower", "upper"):
            value = getattr(node.slice, bound)
            if value is not None and (_int_const(value) or isinstance(value, (ast.Name, ast.Attribute, ast.BinOp))):
                for by in (-1, 1):
                    yield "off-by-one", _copy(node, slice=_copy(node.slice, **{bound: _shift(value, by)}))
    elif isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(_is_state(t) for t in targets):
            yield "stale", ast.Pass()


def _is_state(node: ast.AST) -> bool:
    """An attribute of ``self`` (or an element of one): what persists between calls."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def all_mutants(found: list[Target]) -> list[Mutant]:
    mutants = [m for target in found for m in mutate(target)]
    return [dataclasses.replace(m, id=f"m{k + 1:03d}") for k, m in enumerate(mutants)]


# -- probes: inputs the graded cases never use -------------------------------------------------

def probe_inputs(check, cases: list[dict]) -> dict[str, Arrays]:
    """probe name -> inputs, made by the check's own input generator from its hidden cases:
    new seeds, a batch of one, every dimension moved (non-square), values scaled near zero
    (a variance near eps) and made near-constant.  A probe the generator refuses is left out."""
    hidden = [dict(c) for c in cases if c] or [{"seed": 0}]
    seed = 1_000_003
    wanted: dict[str, dict] = {}
    for k, case in enumerate(hidden):
        wanted[f"probe-seed{k}"] = {**case, "seed": seed + k}
    if any("N" in c for c in hidden):
        wanted["probe-batch1"] = {**hidden[-1], "N": 1, "seed": seed + 11}
    dims = [key for key in hidden[-1] if key != "seed" and type(hidden[-1][key]) is int]
    if dims:
        wanted["probe-shape"] = {**hidden[-1], "seed": seed + 12,
                                 **{key: hidden[-1][key] + 1 + j for j, key in enumerate(dims)}}
    probes: dict[str, Arrays] = {}
    for name, case in wanted.items():
        try:
            probes[name] = check.inputs(**case)
        except Exception:  # noqa: BLE001 - a shape the generator does not take is no probe
            continue
    base = probes.get("probe-seed0")
    if base is not None:
        for name, change in (("probe-tiny", lambda a: a * TINY), ("probe-flat", lambda a: 1.0 + a * TINY)):
            changed = {key: change(v) if _scalable(v) else v for key, v in base.items()}
            if any(_scalable(v) for v in base.values()):
                probes[name] = changed
    return probes


def _scalable(value: np.ndarray) -> bool:
    """Real-valued data (not a label, an index, a count or a scalar setting)."""
    value = np.asarray(value)
    return value.ndim >= 1 and value.dtype.kind == "f" and bool(np.any(value != np.round(value)))


class ProbingGrader(Grader):
    """The real grader, which also runs the probes (never graded) and keeps every answer."""

    def __init__(self, *args, probes: dict[str, dict[str, Arrays]], **kwargs):
        super().__init__(*args, **kwargs)
        self.probes = probes
        self.answers: dict = {}

    def _case_inputs(self, item: Item) -> dict[str, Arrays]:
        return {**super()._case_inputs(item), **self.probes.get(item.grade_id, {})}

    def _run_child(self, items, sub, whole_library):
        answers, failure = super()._run_child(items, sub, whole_library)
        for key, value in answers.items():
            self.answers.setdefault(key, value)
        return answers, failure

    def grade_folder(self, folder: Path) -> tuple[dict[str, tuple[float, str]], dict]:
        """Per item (points, reason), and every answer by "<grade_id>.<case>"."""
        self.answers = {}
        result = self.run(self.read("mutant", folder))
        return {i.grade_id: (i.points, i.reason) for i in result.items}, self.answers


def differing(answers: dict, reference: dict, unstable: set[str]) -> dict[str, list[str]]:
    """grade id -> the cases on which ``answers`` differ from the reference's."""
    found: dict[str, list[str]] = {}
    for key, want in reference.items():
        if key in unstable:
            continue
        if not _same(answers.get(key), want):
            grade_id, case = key.rsplit(".", 1)
            found.setdefault(grade_id, []).append(case)
    return found


def _same(got: object, want: object) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        if set(got) != set(want):
            return False
        for name, w in want.items():
            g = got[name]
            if g.shape != w.shape or not np.allclose(g, w, rtol=SAME_RTOL, atol=SAME_ATOL, equal_nan=True):
                return False
        return True
    # Two failures are the same behaviour (the reference fails on a probe the check cannot make sense of).
    return isinstance(got, str) and isinstance(want, str)


# -- grading in worker processes ----------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """All a worker needs (pickled once per worker)."""
    assignment: Assignment
    course: Course
    config: GraderConfig
    references: dict
    digest: str
    base: str                            # the reference hand-in's folder
    targets: dict[str, Target]
    probes: dict[str, dict[str, Arrays]]  # grade id -> probe -> inputs
    scratch: str


_JOB: Job | None = None
_GRADERS: dict[str, ProbingGrader] = {}


def _start(job: Job) -> None:
    global _JOB
    _JOB = job
    _GRADERS.clear()


def _grader(target: Target) -> ProbingGrader:
    """The target's grader in this worker: prepared once for all its mutants."""
    if target.key not in _GRADERS:
        job = _JOB
        wanted = set(target.items)
        only = dataclasses.replace(job.assignment, items=tuple(i for i in job.assignment.auto_items
                                                              if i.grade_id in wanted))
        _GRADERS[target.key] = ProbingGrader(only, job.course, job.config, job.references, job.digest,
                                             probes={g: job.probes[g] for g in target.items})
    return _GRADERS[target.key]


def grade_text(target_key: str, text: str | None, files: dict[str, str] | None = None
               ) -> tuple[dict[str, tuple[float, str]], dict]:
    """Grade the reference with ``text`` in place of the target (None: the reference itself), or
    with ``files`` (path -> text; a notebook path -> {cell: source}) in place of the reference's."""
    job = _JOB
    target = job.targets[target_key]
    folder = Path(tempfile.mkdtemp(prefix="mutant-", dir=job.scratch))
    try:
        shutil.rmtree(folder)
        shutil.copytree(job.base, folder, copy_function=os.link)  # hard links: the reference is never written
        edits = dict(files or {})
        if text is not None:
            edits[f"{target.notebook}.ipynb" if target.cell else target.key] = \
                {target.cell: target.handed_in(text)} if target.cell else text
        for rel, new in edits.items():
            _replace(folder / rel, new)
        return _grader(target).grade_folder(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _replace(path: Path, new: str | dict[str, str]) -> None:
    if isinstance(new, dict):  # cells of a notebook
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in new:
                cell.source = new[grade_id]
        path.unlink()
        nbformat.write(nb, path)
        return
    path.unlink(missing_ok=True)
    path.write_text(new, encoding="utf-8")


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Report:
    assignment: str
    seconds: float = 0.0
    jobs: int = 1
    mutants: list[dict] = field(default_factory=list)
    items: dict[str, dict[str, int]] = field(default_factory=dict)
    variants: list[dict] | None = None

    @property
    def totals(self) -> dict[str, float]:
        count = {s: sum(m["status"] == s for m in self.mutants) for s in (KILLED, SURVIVED, EQUIVALENT)}
        judged = count[KILLED] + count[SURVIVED]
        return {"mutants": len(self.mutants), "killed": count[KILLED], "survived": count[SURVIVED],
                "equivalent": count[EQUIVALENT],
                "score": round(100.0 * count[KILLED] / judged, 1) if judged else 100.0}

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "seconds": round(self.seconds, 1), "jobs": self.jobs,
                "operators": OPERATORS, "totals": self.totals, "items": self.items, "mutants": self.mutants,
                **({"variants": self.variants} if self.variants is not None else {})}


def run_mutants(assignment: Assignment, course: Course, *, items: tuple[str, ...] = (), jobs: int | None = None,
                config: GraderConfig | None = None, progress: bool = False, variants: bool = False,
                second_reference: Path | None = None, limit: int | None = None) -> Report:
    """Make the mutants, grade and probe each, and say what the checks caught.

    ``items``: only the code these items run, and only these items in the report; ``variants``:
    grade the samples' VARIANTS (and ``second_reference``'s files) instead of mutants; ``limit``:
    the first so many mutants only (a quick look)."""
    start = time.monotonic()
    config = config or GraderConfig.for_assignment(assignment)
    found = targets(assignment, course, items)
    whole = Grader(assignment, course, config)  # fails fast: no release, a broken source
    references = whole.references()
    cases = read_cases(assignment, course.repo / "source" / assignment.name)
    checks = load_checks(course.source_file(assignment.checks))
    probes = {i.grade_id: probe_inputs(checks[i.grade_id], cases[i.grade_id]) for i in assignment.auto_items}
    mutants = all_mutants(found)[:limit]
    report = Report(assignment.name)
    with tempfile.TemporaryDirectory(prefix="coursekit-mutants-") as scratch:
        base = copy_release(course.folder("release", assignment.name), Path(scratch) / "reference")
        hand_in_reference(assignment, course.repo, base)
        job = Job(assignment, course, config, references, whole.digest, str(base), {t.key: t for t in found},
                  probes, scratch)
        jobs = max(1, jobs or os.cpu_count() or 1)
        report.jobs = jobs
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("forkserver"),
                                 initializer=_start, initargs=(job,)) as pool:
            # The reference twice: an answer that differs between two runs of the same code
            # (unseeded randomness) says nothing about a mutant.
            refs = {t.key: [pool.submit(grade_text, t.key, None) for _ in range(2)] for t in found}
            baseline: dict[str, tuple[dict, dict, set[str]]] = {}
            for key, (first, second) in refs.items():
                (points, answers), (_, again) = first.result(), second.result()
                lost = {g: why for g, (p, why) in points.items() if p < assignment.item(g).points}
                if lost:
                    raise CourseError(f"the reference loses points on {', '.join(sorted(lost))} "
                                      f"({next(iter(lost.values()))}); fix it before looking for mutants")
                unstable = {k for k in answers if not _same(again.get(k), answers[k])}
                baseline[key] = (points, answers, unstable)
            if variants:
                report.variants = _variants(pool, assignment, course, found, second_reference)
            else:
                _grade_mutants(pool, mutants, found, baseline, report, progress)
    shown = set(items) or {i.grade_id for i in assignment.auto_items}
    report.items = _per_item(report.mutants, [i.grade_id for i in assignment.auto_items if i.grade_id in shown])
    report.seconds = time.monotonic() - start
    return report


def _grade_mutants(pool, mutants: list[Mutant], found: list[Target], baseline: dict, report: Report,
                   progress: bool) -> None:
    from tqdm import tqdm

    sources = {t.key: t.source for t in found}
    futures = {pool.submit(grade_text, m.target, m.text): m for m in mutants}
    bar = tqdm(total=len(futures), desc=f"mutants {report.assignment}", unit="mutant", file=sys.stderr,
               disable=not progress)
    done: dict[str, dict] = {}
    for future in as_completed(futures):
        mutant = futures[future]
        ref_points, ref_answers, unstable = baseline[mutant.target]
        try:
            points, answers = future.result()
        except Exception as exc:  # noqa: BLE001 - the kit's failure on one mutant: reported, not fatal
            points, answers = {}, {}
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = ""
        killed_by = sorted(g for g, (p, _) in points.items() if p < ref_points[g][0])
        differs = differing(answers, ref_answers, unstable) if not error else {}
        status = "error" if error else KILLED if killed_by else SURVIVED if differs else EQUIVALENT
        done[mutant.id] = {
            "id": mutant.id, "target": mutant.target, "operator": mutant.operator, "line": mutant.line,
            "before": mutant.before, "after": mutant.after, "diff": mutant.diff(sources[mutant.target]),
            "status": status, "killed_by": killed_by,
            "reasons": {g: points[g][1] for g in killed_by},
            "differs": differs, "probe": _probe_verdict(differs), **({"error": error} if error else {})}
        bar.update()
    bar.close()
    report.mutants = [done[m.id] for m in mutants]


def _probe_verdict(differs: dict[str, list[str]]) -> str:
    cases = sorted({c for cs in differs.values() for c in cs})
    if not cases:
        return EQUIVALENT
    probes = [c for c in cases if c.startswith("probe")]
    advice = [c for c in cases if c.startswith("advice")]
    graded = [c for c in cases if c not in probes and c not in advice]
    parts = ([f"differs on {', '.join(probes)}"] if probes else []) + \
        ([f"differs on the ungraded {', '.join(advice)}"] if advice else []) + \
        ([f"graded right, yet differs, on {', '.join(graded)}"] if graded else [])
    return "; ".join(parts)


def _per_item(mutants: list[dict], grade_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per item: the mutants whose behaviour it sees (its answers differ, or it loses points),
    those it kills, those that survive it while another item kills them, and the real survivors."""
    table: dict[str, dict[str, int]] = {}
    for g in grade_ids:
        mine = [m for m in mutants if g in m["killed_by"] or g in m["differs"]]
        table[g] = {"mutants": len(mine), "killed": sum(g in m["killed_by"] for m in mine),
                    "killed_elsewhere": sum(g not in m["killed_by"] and m["status"] == KILLED for m in mine),
                    "survived": sum(m["status"] == SURVIVED for m in mine)}
    return table


# -- correct variants --------------------------------------------------------------------------

Variant = tuple[str, str, dict[str, str | dict[str, str]]]  # (name, target key, files to replace)


def correct_variants(assignment: Assignment, course: Course, found: list[Target],
                     second_reference: Path | None = None) -> list[Variant]:
    """The samples module's ``VARIANTS`` (file, reference text, another correct text), and each
    file of ``second_reference`` that the assignment's code items run."""
    by_file = {t.key: t for t in found if not t.cell}
    by_notebook = {f"{t.notebook}.ipynb": t for t in found if t.cell}
    out: list[Variant] = []
    module_variants = _samples_attribute(assignment, course, "VARIANTS")
    for k, (rel, correct, other) in enumerate(module_variants):
        if rel in by_file:
            text = by_file[rel].source
            if correct not in text:
                raise CourseError(f"VARIANTS[{k}]: {correct!r} is not in the reference {rel}")
            out.append((f"VARIANTS[{k}] {rel}", rel, {rel: text.replace(correct, other)}))
        elif rel in by_notebook:
            target = by_notebook[rel]
            if correct not in target.source:
                raise CourseError(f"VARIANTS[{k}]: {correct!r} is not in the solution cell {target.key}")
            out.append((f"VARIANTS[{k}] {target.key}", target.key,
                        {rel: {target.cell: target.handed_in(target.source.replace(correct, other))}}))
    if second_reference is not None:
        for target in found:
            rel = f"{target.notebook}.ipynb" if target.cell else target.key
            path = Path(second_reference) / rel
            if not path.is_file():
                continue
            if target.cell:
                cells = [c for c in nbformat.read(path, as_version=4).cells
                         if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == target.cell]
                if cells:
                    out.append((f"{second_reference}/{target.key}", target.key,
                                {rel: {target.cell: model_solution(cells[0].source)}}))
            else:
                out.append((f"{second_reference}/{rel}", target.key, {rel: path.read_text(encoding="utf-8")}))
    return out


def _samples_attribute(assignment: Assignment, course: Course, name: str) -> tuple:
    if not assignment.samples:
        return ()
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"samples_{assignment.name}_{name}",
                                                  course.source_file(assignment.samples))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(getattr(module, name, ()))


def _variants(pool, assignment: Assignment, course: Course, found: list[Target],
              second_reference: Path | None) -> list[dict]:
    typical_bugs(assignment, course)  # a samples module that does not load fails here, in one line
    futures = [(name, pool.submit(grade_text, key, None, files))
               for name, key, files in correct_variants(assignment, course, found, second_reference)]
    out = []
    for name, future in futures:
        points, _ = future.result()
        lost = {g: why for g, (p, why) in points.items() if p < assignment.item(g).points}
        out.append({"variant": name, "lost": lost})
    return out


# -- what the author reads ---------------------------------------------------------------------

def table(report: Report, show: Callable[[str], str] = str) -> str:
    """The readable report: per item, the totals, each survivor with its diff, the equivalents."""
    rows = [f"{'item':<24} {'mutants':>7} {'killed':>6} {'elsewhere':>9} {'survived':>8}"]
    for g, row in report.items.items():
        rows.append(f"{g:<24} {row['mutants']:>7} {row['killed']:>6} {row['killed_elsewhere']:>9} "
                    f"{row['survived']:>8}")
    t = report.totals
    lines = [f"course mutants {report.assignment}: {t['mutants']} mutants, {t['killed']} killed, "
             f"{t['survived']} survived, {t['equivalent']} equivalent (probe): {t['score']}% of the "
             f"non-equivalent killed; {report.seconds:.0f} s with -j {report.jobs}", "", *rows]
    survivors = [m for m in report.mutants if m["status"] == SURVIVED]
    if survivors:
        lines += ["", "Survivors (no item loses points, the behaviour differs):"]
        for m in survivors:
            lines += ["", f"{m['id']} {m['target']}:{m['line']} [{m['operator']}] {m['probe']}",
                      *("    " + show(d) for d in m["diff"].splitlines())]
    equivalent = [m for m in report.mutants if m["status"] == EQUIVALENT]
    if equivalent:
        lines += ["", "Equivalent on every probe:"]
        lines += [f"{m['id']} {m['target']}:{m['line']} [{m['operator']}] {show(m['before'])} -> {show(m['after'])}"
                  for m in equivalent]
    errors = [m for m in report.mutants if m["status"] == "error"]
    if errors:
        lines += ["", "Not graded (the kit failed):"] + [f"{m['id']}: {show(m['error'])}" for m in errors]
    if report.variants is not None:
        lost = [v for v in report.variants if v["lost"]]
        lines = [f"course mutants {report.assignment} --variants: {len(report.variants)} correct variants, "
                 f"{len(lost)} lose points; {report.seconds:.0f} s with -j {report.jobs}"]
        for v in report.variants:
            lines.append(f"  {'LOSES' if v['lost'] else 'ok   '} {v['variant']}")
            lines += [f"        {g}: {show(why)}" for g, why in v["lost"].items()]
    return "\n".join(lines)


def write_json(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=1, default=str), encoding="utf-8")
    return path
