"""Write the course's Colab settings (utils/colab.py) into every chapter: its badge and its setup cell's Colab block.

    python scripts/sync_colab.py            # rewrite chapters/*.ipynb where they differ, then run `make student`
    python scripts/sync_colab.py --check    # list chapters that differ; exit 1 if any

Run it after changing ``COURSE_URL`` or ``COURSE_BRANCH`` (a fork, say) or ``colab_setup_code()``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from utils.colab import colab_badge_markdown, colab_setup_code
from utils.paths import REPO_ROOT, chapter_paths

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
COLAB_IF = 'if "google.colab" in sys.modules'


def split_setup(source: str) -> tuple[str, str]:
    """Split a setup cell into its Colab block (through the ``if "google.colab"`` body) and the rest."""
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(COLAB_IF)), None)
    if start is None:
        raise ValueError(f"the setup cell has no `{COLAB_IF}:` block")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    return "".join(lines[:end]), "".join(lines[end:])


def synced(nb: dict, relative_path: str) -> dict:
    """The notebook with its badge (first cell) and Colab block (second cell) as utils/colab.py writes them."""
    title, setup = nb["cells"][0], nb["cells"][1]
    title_source = "".join(title["source"])
    if not BADGE.search(title_source):
        raise ValueError(f"{relative_path}: the first cell has no Open-in-Colab badge")
    title["source"] = BADGE.sub(lambda _: colab_badge_markdown(relative_path), title_source).splitlines(keepends=True)
    _, rest = split_setup("".join(setup["source"]))
    setup["source"] = (colab_setup_code() + "\n" + rest).splitlines(keepends=True)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report chapters that differ")
    args = parser.parse_args(argv)
    stale = []
    for path in chapter_paths():
        before = path.read_text(encoding="utf-8")
        after = (
            json.dumps(synced(json.loads(before), path.relative_to(REPO_ROOT).as_posix()), indent=1, ensure_ascii=False)
            + "\n"
        )
        if after != before:
            stale.append(path.name)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    verb = "differ from utils/colab.py" if args.check else "rewritten (now run `make student`)"
    print(f"{len(stale)} chapter(s) {verb}: {', '.join(stale) or '-'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
