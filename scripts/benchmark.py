"""Execute chapter notebooks in fresh kernels and tabulate their wall time and recorded metrics.

    python scripts/benchmark.py                     # every chapter; table to runs/benchmark.md
    python scripts/benchmark.py 01_feedforward      # some chapters
    python scripts/benchmark.py --update-readme     # also replace the table in README.md

Each notebook runs as a student would run it (kernel started in chapters/), with its run record written to a
temporary COURSE_RUNS_DIR so that the table shows exactly this run. Timings on a shared machine are noisy:
compare chapters within one table, not across tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from utils.measured import machine_description
from utils.paths import CHAPTERS_DIR, REPO_ROOT, chapter_paths

README_START, README_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def run_chapter(path: Path, runs: Path, timeout: int) -> tuple[float, float, str | None]:
    """Execute one chapter; return (seconds, seconds spent in its graded exercise cells, error message or None)."""
    import nbformat

    from classroom.runner import run_notebook

    nb = nbformat.read(path, as_version=4)
    run = run_notebook(nb, cwd=CHAPTERS_DIR, timeout=timeout, env={"COURSE_RUNS_DIR": str(runs)})
    return run.seconds, exercise_seconds(nb), run.stopped


def exercise_seconds(nb) -> float:
    """Execution time of the cells with nbgrader metadata (the graded exercises), from nbclient's cell timings."""
    from datetime import datetime

    total = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "nbgrader" in cell.get("metadata", {}) and {"iopub.execute_input", "shell.execute_reply"} <= timing.keys():
            begin, end = (datetime.fromisoformat(timing[k])
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            total += (end - begin).total_seconds()
    return total


def format_value(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    """Rows of {"chapter", "seconds", "exercise_seconds", "metrics", "error"} as a Markdown table, plus a line about
    the machine."""
    lines = ["| chapter | wall time | of which exercises | recorded metrics |", "|---|---|---|---|"]
    for row in rows:
        metrics = ", ".join(f"`{k}` {format_value(v)}" for k, v in row["metrics"].items())
        if row["error"]:
            metrics = f"**failed**: {row['error']}"
        wall = f"{row['seconds'] / 60:.1f} min ({row['seconds']:.0f} s)"
        lines.append(f"| `{row['chapter']}` | {wall} | {row.get('exercise_seconds', 0):.0f} s | {metrics} |")
    total = sum(row["seconds"] for row in rows)
    lines.append("")
    lines.append(f"Total {total / 60:.1f} min on {machine_description()}, measured {time.strftime('%Y-%m-%d')}.")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    """Put ``table`` between the benchmark markers of ``text``; raise ValueError if the markers are missing."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs the markers {README_START} and {README_END}")
    return text[: start + len(README_START)] + "\n" + table + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="notebook stems, e.g. 01_feedforward (default: all)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    notebooks = chapter_paths()
    if args.chapters:
        known = {p.stem: p for p in notebooks}
        unknown = [c for c in args.chapters if c not in known]
        if unknown:
            parser.error(f"unknown chapter(s) {unknown}; known: {sorted(known)}")
        notebooks = [known[c] for c in args.chapters]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in notebooks:
            print(f"running {path.name} ...", flush=True)
            seconds, in_exercises, error = run_chapter(path, Path(tmp), args.timeout)
            record = Path(tmp) / f"{path.stem}.json"
            metrics = json.loads(record.read_text())["metrics"] if record.exists() and not error else {}
            rows.append({"chapter": path.stem, "seconds": seconds, "exercise_seconds": in_exercises, "metrics": metrics,
                         "error": error})
            print(f"  {seconds:.0f} s {'FAILED: ' + error if error else metrics}", flush=True)
    table = markdown_table(rows)
    out = REPO_ROOT / "runs" / "benchmark.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    print("\n" + table + f"\n\nwritten to {out.relative_to(REPO_ROOT)}")
    if args.update_readme:
        readme = REPO_ROOT / "README.md"
        readme.write_text(replace_between_markers(readme.read_text(), table))
        print("README.md updated")
    return 1 if any(row["error"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
