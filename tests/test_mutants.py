"""`course mutants`: single-change mutants of the reference, graded by the real grader.

The operators are tested on text alone.  The run is tested on the tiny course of
tests/test_cell_items.py, its library function made ``(x + x).copy()``: the sign mutant
``x - x`` survives a check that looks only at the shape and is killed by one that compares
values, the ``.copy()`` mutant is equivalent on every probe, and the cell item's ``3 * x``
(a square dropped) is killed by its check.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_cell_items import NAME, write_course

from coursekit import cli
from coursekit.autograde.grader import GraderConfig
from coursekit.autograde import sandbox
from coursekit.mutants import (EQUIVALENT, KILLED, OPERATORS, SURVIVED, Target, mutate, probe_inputs, run_mutants,
                               table)
from coursekit.runtime.checks import Check

NEEDS_SANDBOX = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not usable here")
CONFIG = GraderConfig(limits=sandbox.Limits(wall_seconds=5, cpu_seconds=5, memory_bytes=1 << 30, max_processes=16,
                                            max_output_bytes=16 << 10, max_file_bytes=8 << 20))
CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return (x + x).copy()
    ### END SOLUTION
'''
# Only the shape of double's answer is judged: x - x passes.
WEAK = '''
from coursekit.runtime.checks import Verdict


def _shape_only(out, x):
    return Verdict(np.shape(out["y"]) == np.shape(x["x"]), "shape")


checks = Checks()
checks.add(Check("double", "double", _inputs, lambda mt, x: {"y": mt.double(x["x"])}, compare=_shape_only))
'''


def _text(mutants, operator):
    return [m for m in mutants if m.operator == operator]


# --- the operators, on text --------------------------------------------------------------------

LAYER = '''import numpy as np


class Norm:
    def forward(self, Z):
        x = 1
        ### BEGIN SOLUTION
        self.mean = Z.mean(axis=0, keepdims=True)
        self.var = Z.var(axis=0, keepdims=True)
        self.running = 0.9 * self.running + 0.1 * self.mean
        return (Z - self.mean) / np.sqrt(self.var + self.eps) + Z[1:].T.sum() * 0
        ### END SOLUTION
'''


def test_operators_make_the_documented_mistakes_inside_solution_regions_only():
    mutants = mutate(Target("norm.py", LAYER, ("norm",)))
    assert {m.operator for m in mutants} <= set(OPERATORS)
    # The eps moved out of the square root, and dropped.
    assert any("np.sqrt(self.var) + self.eps" in m.text for m in _text(mutants, "eps"))
    assert any(m.before == "self.var + self.eps" and m.after == "self.var" for m in _text(mutants, "eps"))
    # Stale state: the running average never updated.
    assert any(m.before.startswith("self.running =") and m.after == "pass" for m in _text(mutants, "stale"))
    assert any("Z.sum(axis=0, keepdims=True)" in m.text for m in _text(mutants, "reduction"))
    assert any("Z.mean(axis=1, keepdims=True)" in m.text for m in _text(mutants, "axis"))
    assert any("Z.mean(axis=0)" in m.text for m in _text(mutants, "keepdims"))
    assert any("Z[2:]" in m.text or "Z[0:]" in m.text for m in _text(mutants, "off-by-one"))
    assert any("Z[1:].sum()" in m.text for m in _text(mutants, "transpose"))
    assert any(m.after == "Z - self.mean" for m in _text(mutants, "divisor"))
    # Outside the region (x = 1) nothing changes; every mutant is one change, once.
    assert all("x = 1" in m.text for m in mutants)
    assert len({m.text for m in mutants}) == len(mutants)
    assert all(m.diff(LAYER).count("\n+") == 1 for m in mutants), [m.diff(LAYER) for m in mutants]


def test_probes_come_from_the_checks_generator_with_new_seeds_shapes_and_tiny_values():
    check = Check("f", "f", lambda rng, shape: {"Z": rng.standard_normal((shape.get("N", 3), shape.get("C", 2))),
                                                "label": np.eye(2)[[0, 1]]}, lambda mt, x: {})
    probes = probe_inputs(check, [{}, {"seed": 5, "N": 4, "C": 4}])
    assert probes["probe-batch1"]["Z"].shape == (1, 4)
    assert probes["probe-shape"]["Z"].shape[0] != probes["probe-shape"]["Z"].shape[1]  # non-square
    assert not np.allclose(probes["probe-seed0"]["Z"], check.inputs(seed=5, N=4, C=4)["Z"])
    assert np.abs(probes["probe-tiny"]["Z"]).max() < 1e-2
    assert np.ptp(probes["probe-flat"]["Z"]) < 1e-2 and probes["probe-flat"]["Z"].mean() == pytest.approx(1, abs=1e-2)
    np.testing.assert_array_equal(probes["probe-tiny"]["label"], np.eye(2)[[0, 1]])  # labels are not scaled


# --- a run on the tiny course ------------------------------------------------------------------

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from coursekit.release import release

    course = write_course(tmp_path_factory.mktemp("mutants") / "course")
    (course.repo / "mylib" / "core.py").write_text(CORE)
    release(course.assignment(NAME), course)
    return course


def _weak(course) -> None:
    checks = course.repo / "source" / NAME / "checks.py"
    text = checks.read_text()
    strong = text.split("checks = Checks()")[0]
    slope = text[text.index('checks.add(Check("slope"'):]
    checks.write_text(strong + WEAK + slope)


def _by_line(report):
    return {(m["target"], m["operator"]): m for m in report.mutants}


@NEEDS_SANDBOX
def test_a_weak_check_lets_the_sign_mutant_survive_a_strong_one_kills_it(course, tmp_path):
    strong = run_mutants(course.assignment(NAME), course, jobs=2, config=CONFIG)
    found = _by_line(strong)
    assert found[("mylib/core.py", "sign")]["status"] == KILLED
    assert found[("mylib/core.py", "sign")]["killed_by"] == ["double"]
    assert found[("mylib/core.py", "copy")]["status"] == EQUIVALENT
    assert found[("Tester.ipynb:slope_code", "square")]["status"] == KILLED
    assert strong.totals["score"] == 100.0

    _weak(course)
    weak = run_mutants(course.assignment(NAME), course, jobs=2, config=CONFIG)
    sign = _by_line(weak)[("mylib/core.py", "sign")]
    assert sign["status"] == SURVIVED
    assert "probe-seed0" in sign["differs"]["double"] and sign["probe"].startswith("differs on")
    assert "-    return (x + x).copy()" in sign["diff"] and "+    return (x - x).copy()" in sign["diff"]
    assert weak.items["double"]["survived"] == 1 and weak.items["slope"]["killed"] >= 1
    assert weak.totals["score"] < 100.0
    shown = table(weak)
    assert "Survivors" in shown and "(x - x)" in shown and "Equivalent on every probe" in shown

    # The command: the threshold fails it below, passes it above; the JSON has the documented shape.
    out = tmp_path / "report.json"
    below = cli.main(["mutants", NAME, "--course", str(course.repo), "-j", "2", "--threshold", "99",
                      "--json", str(out)])
    assert below == 1
    report = json.loads(out.read_text())
    assert set(report) >= {"assignment", "seconds", "jobs", "operators", "totals", "items", "mutants"}
    assert set(report["totals"]) == {"mutants", "killed", "survived", "equivalent", "score"}
    assert set(report["items"]["double"]) == {"mutants", "killed", "killed_elsewhere", "survived"}
    assert {"id", "target", "operator", "line", "diff", "status", "killed_by", "differs", "probe"} \
        <= set(report["mutants"][0])
    assert report["seconds"] > 0
    assert cli.main(["mutants", NAME, "--course", str(course.repo), "--item", "slope", "--threshold", "99",
                     "--json", str(tmp_path / "slope.json")]) == 0  # the slope item's mutants are all killed
    assert set(json.loads((tmp_path / "slope.json").read_text())["items"]) == {"slope"}


@NEEDS_SANDBOX
def test_variants_report_a_correct_alternative_that_loses_points(course, tmp_path):
    second = tmp_path / "second"
    (second / "mylib").mkdir(parents=True)
    (second / "mylib" / "core.py").write_text("def double(x):\n    return 2 * x\n")
    report = run_mutants(course.assignment(NAME), course, jobs=2, config=CONFIG, variants=True,
                         second_reference=second)
    assert [v["lost"] for v in report.variants] == [{}]
    (second / "mylib" / "core.py").write_text("def double(x):\n    return [2 * x]\n")  # "correct", another shape
    report = run_mutants(course.assignment(NAME), course, jobs=2, config=CONFIG, variants=True,
                         second_reference=second)
    assert list(report.variants[0]["lost"]) == ["double"]
    assert "LOSES" in table(report)


def test_an_unknown_item_is_refused_in_one_line(course):
    with pytest.raises(Exception, match="no autograded item"):
        run_mutants(course.assignment(NAME), course, items=("nope",), config=CONFIG)

