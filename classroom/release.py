"""Student versions of the chapters: solutions replaced by stubs, hidden tests removed, everything else identical.

    python -m classroom.release                # (re)write student/NN_topic.ipynb for every chapter
    python -m classroom.release 04_gan         # some chapters
    python -m classroom.release --check        # exit 1 if a committed student version is out of date

The one other change: the Open-in-Colab badge points at the student version's own path. The notebook's metadata
names the chapter it came from (``metadata["course"]["chapter"]``), which the autograder uses to find the tests.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from classroom.cells import clear_solution, find_exercises, is_solution_cell, is_test_cell, remove_hidden_tests
from utils.colab import colab_badge_url
from utils.paths import REPO_ROOT, chapter_paths

STUDENT_DIR = REPO_ROOT / "student"


def student_version(chapter: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student version of the chapter notebook ``chapter`` whose file name is ``name`` (e.g. ``01_x.ipynb``)."""
    exercises = find_exercises(chapter.cells)  # refuses a malformed exercise structure
    if not exercises:
        raise ValueError(f"{name} has no graded exercises")
    student = copy.deepcopy(chapter)
    for cell in student.cells:
        if is_solution_cell(cell):
            cell.source = clear_solution(cell.source)
        elif is_test_cell(cell):
            cell.source = remove_hidden_tests(cell.source)
    title = student.cells[0]
    title.source = title.source.replace(colab_badge_url(f"chapters/{name}"), colab_badge_url(f"student/{name}"))
    student.metadata["course"] = {"chapter": Path(name).stem, "version": "student"}
    return student


def render(chapter_path: Path) -> str:
    """The text of the student version of ``chapter_path``, exactly as written to ``student/``."""
    chapter = nbformat.read(chapter_path, as_version=4)
    return nbformat.writes(student_version(chapter, chapter_path.name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="notebook stems, e.g. 01_feedforward (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a student version is stale")
    parser.add_argument("--out", type=Path, default=STUDENT_DIR, help="folder for the student versions")
    args = parser.parse_args(argv)
    paths = chapter_paths()
    if args.chapters:
        known = {p.stem: p for p in paths}
        unknown = sorted(set(args.chapters) - set(known))
        if unknown:
            parser.error(f"unknown chapter(s) {unknown}; known: {sorted(known)}")
        paths = [known[c] for c in args.chapters]
    stale = []
    for path in paths:
        text, target = render(path), args.out / path.name
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target)
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if args.check and stale:
        print("out of date (run `make student`): " + ", ".join(str(p) for p in stale))
        return 1
    if not stale:
        print(f"{len(paths)} student version(s) up to date in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
