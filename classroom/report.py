"""A grading report (a table for people, JSON for scripts) and where reports go without overwriting each other."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from utils.paths import atomic_write

MISSING_WITHOUT_SANDBOX = (
    "graded WITHOUT a sandbox (bubblewrap is not available here): the submission's code could read the chapter's "
    "solutions and hidden tests, other submissions and the grader's files, signal or kill the grader, and start "
    "processes that outlive grading if they leave the kernel's session; install bubblewrap (apt install bubblewrap) "
    "and grade again for isolation"
)


@dataclass
class ExerciseResult:
    number: int
    title: str
    grade_id: str
    points: float
    max_points: float
    status: str  # "passed", "failed", "timed out", "not run", "solution cell missing", "not counted", "refused"
    detail: str = ""


@dataclass
class Report:
    submission: str
    source: str
    exercises: list[ExerciseResult]
    problems: list[str] = field(default_factory=list)  # what went wrong outside the exercises, in words
    seconds: float = 0.0
    # Why the submission scores zero whatever its cells did: refused before running (e.g. it claims another
    # chapter) or flagged for review after running (its kernel was tampered with). None for a normal grade.
    review: str | None = None
    sandboxed: bool = True

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_json(self) -> dict:
        return {"submission": self.submission, "source": self.source, "score": self.score,
                "max_score": self.max_score, "review": self.review, "sandboxed": self.sandboxed,
                "exercises": [asdict(e) for e in self.exercises], "problems": self.problems,
                "seconds": round(self.seconds, 1)}

    def table(self) -> str:
        """A readable table: one row per exercise, then the total and any problems."""
        width = max([len(e.title) for e in self.exercises] + [8])
        lines = [f"{Path(self.submission).name}  (graded against {self.source})", ""]
        if self.review:
            lines += [f"NEEDS REVIEW: {self.review}", ""]
        if not self.sandboxed:
            lines += [f"WARNING: {MISSING_WITHOUT_SANDBOX}", ""]
        lines.append(f"{'exercise':<{width}}  {'points':>9}  result")
        for e in self.exercises:
            result = e.status + (f": {e.detail}" if e.detail else "")
            lines.append(f"{e.title:<{width}}  {_num(e.points):>4} / {_num(e.max_points):<2}  {result}")
        lines.append(f"{'total':<{width}}  {_num(self.score):>4} / {_num(self.max_score):<2}")
        if self.problems:
            lines += ["", "problems:"] + [f"- {p}" for p in self.problems]
        lines.append(f"\ngraded in {self.seconds:.0f} s")
        return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:g}"


def report_stems(submissions: list[Path], out_dir: Path | None) -> dict[Path, Path]:
    """For each submission, the path of its reports without the suffix (``<stem>`` + ``.grade.json``/``.txt``).

    Beside each submission by default; in ``out_dir`` the names must not collide, so two ``alice.ipynb`` from
    different folders become ``a__alice`` and ``b__alice`` (their folders' names, then a counter if needed)."""
    if out_dir is None:
        return {s: s.parent / s.stem for s in submissions}
    stems: dict[Path, Path] = {}
    taken: set[str] = set()
    by_name = Counter(s.stem for s in submissions)
    for s in submissions:
        name = s.stem if by_name[s.stem] == 1 else "__".join([*s.resolve().parent.parts[-2:], s.stem]).lstrip("/_")
        candidate, counter = name, 2
        while candidate.lower() in taken:
            candidate, counter = f"{name}-{counter}", counter + 1
        taken.add(candidate.lower())
        stems[s] = out_dir / candidate
    return stems


def write_report(report: Report, stem: Path) -> tuple[Path, Path]:
    """Write ``<stem>.grade.json`` and ``<stem>.grade.txt`` atomically (each appears whole or not at all)."""
    json_path, text_path = stem.with_name(stem.name + ".grade.json"), stem.with_name(stem.name + ".grade.txt")
    atomic_write(json_path, (json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n").encode())
    atomic_write(text_path, (report.table() + "\n").encode())
    return json_path, text_path
