"""Fetching a data file once, verified by its sha256 and written atomically.

A file is looked for in the data folder (``data/`` in the repository, or ``$COURSE_DATA_DIR``). If it is not there it
is fetched from its official source, or, when ``$COURSE_DATA_MIRROR`` is set, from that mirror instead. A mirror is a
folder or a ``file://``/``http(s)://`` base URL laid out like ``data/``: ``<mirror>/<dataset>/<file name>``. Tests
and CI point it at a local copy, so nothing reaches the internet.

Every file is checked against its sha256 before it is used; a corrupted file is never silently loaded. A slow
source cannot stall a fetch: connecting and each read wait at most a minute, and reading the file has a deadline
(``default_deadline``: a minute plus the file's size at 64 KiB/s); a source that sends more than the file's size is
cut off at one byte more.
"""

from __future__ import annotations

import hashlib
import http.client
import numbers
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from utils.paths import REPO_ROOT, data_dir, file_mode

MIRROR_ENV = "COURSE_DATA_MIRROR"
_CHUNK = 1 << 20
READ_TIMEOUT = 60.0  # seconds a connection attempt or a single read may wait for data
_SLOW_RATE = 64 * 1024  # bytes per second the default deadline still allows (a poor connection)


class DataError(RuntimeError):
    """A data file could not be provided: the base class of the errors below."""


class DownloadError(DataError):
    """A data file is missing locally and could not be fetched."""


class MissingDataError(DownloadError):
    """A data file that ships with the course is missing from the data folder, and no copy could be fetched."""


class ChecksumError(DataError):
    """A data file's sha256 differs from the published one: it is corrupted, truncated or a different file."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, with where it comes from and what it must hash to."""

    dataset: str  # folder under data/ (and under a mirror), e.g. "mnist"
    name: str  # file name inside that folder
    sha256: str  # lowercase hex digest of the exact bytes
    size: int  # bytes
    url: str  # the official source
    shipped: bool = False  # True if the repository ships the file in data/ (it is fetched only if missing)


def sha256_of(path: Path) -> str:
    """The lowercase hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Files already verified in this process, keyed by (path, size, mtime): re-hashing 10 MB on every load is wasteful.
_verified: set[tuple[str, int, int]] = set()


_REFETCH = "Delete it and run again to fetch a fresh copy (a file shipped with the course can also be restored with `git checkout`)."


def verify_checksum(path: Path, sha256: str, size: int, remedy: str = _REFETCH) -> None:
    """Raise ``ChecksumError`` (ending with ``remedy``) unless the file at ``path`` has this size and sha256."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    actual = sha256_of(path) if stat.st_size == size else None
    if actual != sha256:
        found = f"sha256 {actual}" if actual else f"{stat.st_size} bytes"
        raise ChecksumError(
            f"{path} is corrupted or incomplete: expected {size} bytes with sha256 {sha256}, found {found}. {remedy}"
        )
    _verified.add(key)


def source_of(file: RemoteFile) -> str:
    """Where ``file`` is fetched from: ``$COURSE_DATA_MIRROR/<dataset>/<name>`` if the mirror is set, else its URL."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return file.url
    if "://" in mirror:
        return f"{mirror.rstrip('/')}/{file.dataset}/{file.name}"
    return str(Path(mirror).expanduser().resolve() / file.dataset / file.name)


def default_deadline(size: int) -> float:
    """Seconds a fetch of ``size`` bytes may take in all by default: a minute plus the size at 64 KiB/s."""
    return READ_TIMEOUT + size / _SLOW_RATE


def _check_deadline(deadline: object, size: int) -> float:
    if deadline is None:
        return default_deadline(size)
    if isinstance(deadline, bool) or not isinstance(deadline, numbers.Real) or not 0 < deadline < float("inf"):
        raise ValueError(
            f"deadline must be a number of seconds > 0 (or None for {default_deadline(size):.0f} s, scaled from the "
            f"file's size), got {deadline!r}"
        )
    return float(deadline)


def _remove_stale_parts(dest: Path, older_than: float) -> None:
    """Delete the partial files ``.<name>.*.part`` of ``dest`` last written more than ``older_than`` seconds ago.

    A killed fetch leaves its partial file behind; a live one is younger than its deadline (it gives up then), so
    with ``older_than`` at least the longest deadline, no partial file of a fetch still running is touched.
    """
    pattern = re.compile(re.escape(f".{dest.name}.") + r"[a-z0-9_]+\.part")  # tempfile.mkstemp's random names
    now = time.time()
    for part in dest.parent.iterdir():
        if pattern.fullmatch(part.name):
            try:
                if now - part.stat().st_mtime > older_than:
                    part.unlink()
            except FileNotFoundError:  # another fetch cleaned it up first
                pass


def _open_source(source: str, timeout: float = READ_TIMEOUT) -> tuple[BinaryIO, int | None]:
    """Open a URL or a local path for reading; return the stream and its length if known. Each network operation
    (connecting, every read) waits at most ``timeout`` seconds."""
    if "://" not in source:
        if not Path(source).is_file():
            raise DownloadError(
                f"the data mirror ${MIRROR_ENV} has no file {source}. Point {MIRROR_ENV} at a folder laid out like "
                f"data/ (<dataset>/<file>), or unset it to download from the official source."
            )
        return open(source, "rb"), Path(source).stat().st_size
    try:
        response = urllib.request.urlopen(source, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"could not download {source}: HTTP {err.code} {err.reason}.") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"could not download {source}: {reason}. Check your internet connection, or set {MIRROR_ENV} to a "
            f"folder or URL that holds a copy of the data (see data/README.md)."
        ) from err
    length = response.headers.get("Content-Length", "").strip()
    return response, int(length) if length.isdigit() else None


def fetch_file(file: RemoteFile, dest: Path, progress: bool = True, deadline: float | None = None) -> None:
    """Copy ``file`` from its source to ``dest``, verifying its sha256 on the way; ``dest`` appears only if valid.

    The fetch fails with ``DownloadError`` after ``deadline`` seconds in all (default: ``default_deadline``) or
    when no data arrives for ``READ_TIMEOUT`` seconds, and with ``ChecksumError`` as soon as the source sends more
    than ``file.size`` bytes. Partial files that a killed fetch of ``dest`` left behind are removed first.
    """
    deadline = _check_deadline(deadline, file.size)
    source = source_of(file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest, older_than=max(deadline, default_deadline(file.size)) + READ_TIMEOUT)
    start = time.monotonic()
    timeout = min(READ_TIMEOUT, deadline)
    stream, length = _open_source(source, timeout)
    wrong_file = (
        f"{source} does not hold the expected {file.dataset}/{file.name} ({file.size} bytes): "
        "it serves a different file; nothing was saved. "
        f"Try again, or fetch from another source with {MIRROR_ENV}."
    )
    with stream:
        if length is not None and length > file.size:
            raise ChecksumError(f"{wrong_file} (it announces {length} bytes)")
        read = getattr(stream, "read1", stream.read)  # read1: whatever has arrived, so the deadline is checked often
        digest, received = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                tqdm(
                    total=length or file.size,
                    unit="B",
                    unit_scale=True,
                    desc=f"fetching {file.name}",
                    disable=not progress,
                ) as bar,
            ):
                os.chmod(tmp, file_mode())
                while True:
                    if time.monotonic() - start > deadline:
                        raise DownloadError(
                            f"fetching {source} took longer than its deadline of {deadline:g} s ({received} of "
                            f"{file.size} bytes arrived): the source is too slow or stalls; nothing was saved. Try "
                            f"again, pass a longer deadline to ensure_file, or set {MIRROR_ENV} to a faster source."
                        )
                    try:
                        chunk = read(min(_CHUNK, file.size + 1 - received))  # at most one byte too many
                    except (OSError, http.client.HTTPException) as err:
                        stalled = isinstance(err, TimeoutError)
                        reason = f"no data for {timeout:g} s" if stalled else f"{type(err).__name__}: {err}"
                        raise DownloadError(
                            f"could not download {source}: {reason} ({received} of {file.size} bytes arrived); "
                            f"nothing was saved. Try again, or set {MIRROR_ENV} to another source."
                        ) from err
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > file.size:
                        raise ChecksumError(f"{wrong_file} (it sent more than {file.size} bytes)")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != file.sha256:
                raise ChecksumError(
                    f"{source} does not hold the expected {file.dataset}/{file.name}: its sha256 is "
                    f"{digest.hexdigest()}, expected {file.sha256}. The source served a different or truncated file; "
                    f"nothing was saved. Try again, or fetch from another source with {MIRROR_ENV}."
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def ensure_file(
    file: RemoteFile, root: Path | None = None, progress: bool = True, deadline: float | None = None
) -> Path:
    """The verified local path of ``file`` under ``root`` (default: the data folder), fetching it first if needed
    (within ``deadline`` seconds, see ``fetch_file``)."""
    dest = (root if root is not None else data_dir()) / file.dataset / file.name
    if not dest.exists():
        try:
            fetch_file(file, dest, progress=progress, deadline=deadline)
        except DownloadError as err:
            if not file.shipped:
                raise
            raise MissingDataError(f"{restore_hint(file, dest)} (Fetching a copy instead failed: {err})") from err
    verify_checksum(dest, file.sha256, file.size)
    return dest


def restore_hint(file: RemoteFile, dest: Path) -> str:
    """What to do about a missing file that ships with the course, which should be at ``dest``."""
    folder = dest.parent.parent
    if folder == (REPO_ROOT / "data").resolve():
        return (
            f"{dest} is missing, but it ships with the course: restore it with `git checkout -- data/{file.dataset}` "
            f"in {REPO_ROOT} (or download the course again)."
        )
    return (
        f"{dest} is missing: $COURSE_DATA_DIR points at {folder}, which lacks the {file.dataset} files that ship with "
        f"the course. Copy data/{file.dataset} from the course there, or unset COURSE_DATA_DIR."
    )
