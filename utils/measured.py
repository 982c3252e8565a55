"""Tables measured by the course's scripts, committed under ``docs/measured/`` and shown by the chapters.

Some comparisons are too slow to rerun inside a chapter (five training recipes of a GAN, say). A chapter never
types their numbers into its text: the script that measures them writes a Markdown table here, and the chapter
displays that file, so the numbers a reader sees are exactly what the script printed::

    python scripts/gan_recipes.py            # rewrites docs/measured/gan_recipes.md
    display(Markdown(measured_table("gan_recipes")))   # in chapter 04

Each file ends with a line saying which command measured it, on what machine and when.
"""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

from utils.paths import REPO_ROOT, atomic_write

MEASURED_DIR: Path = REPO_ROOT / "docs" / "measured"
_NAME = re.compile(r"[a-z0-9_]+")


def machine_description() -> str:
    """CPU cores, accelerator, OS, Python and torch versions of this machine, for a line under a measured table."""
    import torch

    device = "CUDA " + torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU only"
    return (f"{os.cpu_count()} CPU cores, {device}, {platform.system()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def measured_path(name: str) -> Path:
    """``docs/measured/<name>.md``; ``name`` is lower-case letters, digits and underscores (ValueError otherwise)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a measured table's name is lower-case letters, digits and underscores, got {name!r}")
    return MEASURED_DIR / f"{name}.md"


def write_measured_table(name: str, table: str, command: str) -> Path:
    """Write ``table`` (Markdown) to ``docs/measured/<name>.md`` atomically, followed by a line naming ``command``,
    this machine and today's date; return the path."""
    if not table.strip():
        raise ValueError("the table is empty")
    if not command.strip():
        raise ValueError("name the command that measured the table, so that a reader can rerun it")
    footer = f"Measured by `{command}` on {machine_description()}, {time.strftime('%Y-%m-%d')}."
    return atomic_write(measured_path(name), f"{table.rstrip()}\n\n{footer}\n".encode())


def measured_table(name: str) -> str:
    """The Markdown text of ``docs/measured/<name>.md``; FileNotFoundError naming the file if it is missing."""
    path = measured_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: it is written by the script that measures it (see {MEASURED_DIR})")
    return path.read_text(encoding="utf-8")
