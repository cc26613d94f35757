"""The kit names no assignment: grade ids, library classes and point totals live in the course."""
import re

from coursekit.assignment import assignment_names, load_assignment

from conftest import REPO

KIT = REPO / "coursekit"


def kit_sources() -> dict[str, str]:
    return {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted(KIT.rglob("*.py"))}


def test_no_kit_file_names_a_grade_id_a_library_class_or_an_assignment():
    assignments = [load_assignment(REPO, name) for name in assignment_names(REPO)]
    assert assignments, "the course declares its assignments"
    words = {a.name for a in assignments}
    words |= {item.grade_id for a in assignments for item in a.items}
    words |= {name for a in assignments for _, names in a.student_names for name in names}
    found = []
    for rel, text in kit_sources().items():
        for word in sorted(words):
            for match in re.finditer(rf"(?<![\w.]){re.escape(word)}(?!\w)", text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {word}")
    assert found == []


def test_no_kit_file_states_a_point_total():
    totals = {str(a.total_points) for a in (load_assignment(REPO, n) for n in assignment_names(REPO))}
    pattern = re.compile(r"(?i)(points?|total)\W{0,3}(" + "|".join(sorted(totals)) + r")\b")
    found = [f"{rel}: {m.group(0)}" for rel, text in kit_sources().items() for m in pattern.finditer(text)]
    assert found == []
