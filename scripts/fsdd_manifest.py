"""Write ``utils/manifests/fsdd.tsv``: the name, size in bytes and sha256 of each of the 3,000 FSDD recordings.

    python scripts/fsdd_manifest.py PATH/TO/fsdd

``PATH/TO/fsdd`` holds ``recordings/*.wav`` and the ``SHA256SUMS`` that came with the verified copy; every file's
digest is checked against it before the manifest is written. ``utils.fsdd`` pins the manifest's own sha256, so
after regenerating it, update ``FSDD_MANIFEST_SHA256`` there (the script prints the new value).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from utils.fsdd import FSDD_MANIFEST  # noqa: E402
from utils.paths import atomic_path  # noqa: E402


def manifest_rows(folder: Path) -> list[tuple[str, int, str]]:
    """``(name, bytes, sha256)`` for each ``recordings/*.wav`` under ``folder``, sorted by name, checked against
    ``folder/SHA256SUMS``."""
    published = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        published[Path(name.lstrip("*")).name] = digest
    rows = []
    for path in sorted((folder / "recordings").glob("*.wav")):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if published.get(path.name) != digest:
            raise SystemExit(f"{path}: sha256 {digest} does not match SHA256SUMS ({published.get(path.name)})")
        rows.append((path.name, len(data), digest))
    if len(rows) != len(published):
        raise SystemExit(f"{folder}: {len(rows)} recordings but SHA256SUMS lists {len(published)}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a verified copy of FSDD (recordings/ and SHA256SUMS)")
    args = parser.parse_args()
    rows = manifest_rows(args.folder)
    text = "".join(f"{name}\t{size}\t{digest}\n" for name, size, digest in rows)
    with atomic_path(FSDD_MANIFEST) as tmp:
        Path(tmp).write_text(text)
    print(f"wrote {len(rows)} rows to {FSDD_MANIFEST.relative_to(REPO)}; "
          f"FSDD_MANIFEST_SHA256 = {hashlib.sha256(text.encode()).hexdigest()!r}")


if __name__ == "__main__":
    main()
