"""What grading one submission produced, as plain data: the one type the grader writes and the
feedback, the gradebook, the formgrader and Gradescope read (``results.json``'s ``extra_data``)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coursekit import safefs


@dataclass
class ItemResult:
    grade_id: str
    points: float
    max_points: int
    reason: str
    visible: str = ""
    advice: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    items: list[ItemResult]
    notes: list[str]
    fingerprint: str
    seconds: float = 0.0
    sandboxed: bool = True
    grader_peak_mb: float = 0.0  # the grading process's own peak RSS so far (hostile answers must not grow it)
    isolation: list[str] = field(default_factory=list)  # what held in the sandbox: bubblewrap, seccomp, cgroup
    # Written (manually graded) items: grade id -> "answered", "unanswered" (as released) or "missing".
    written: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Student text enters a result here (exception messages, names): made encodable once,
        # so that results.json, the feedback page and the gradebook can always be written.
        for item in self.items:
            item.reason, item.visible, item.title = _text(item.reason), _text(item.visible), _text(item.title)
            item.advice = [_text(a) for a in item.advice] if isinstance(item.advice, list) else item.advice
        self.notes = [_text(n) for n in self.notes] if isinstance(self.notes, list) else self.notes

    @property
    def score(self) -> float:
        return sum(i.points for i in self.items)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        return cls(**{**data, "items": [ItemResult(**i) for i in data["items"]]})


def _text(value: object) -> object:
    return safefs.utf8_text(value) if isinstance(value, str) else value


def read_result(path: Path) -> SubmissionResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SubmissionResult.from_dict(data["extra_data"]["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
