"""The Free Spoken Digit Dataset (FSDD): 3,000 recordings of the digits 0-9 by six speakers, 8 kHz mono, as tensors.

The recordings are fetched on first use into ``<data folder>/fsdd/recordings/`` and each is checked against the
sha256 in ``utils/manifests/fsdd.tsv`` (name, bytes, sha256 per file; the manifest's own sha256 is pinned below).
With ``$COURSE_DATA_MIRROR`` set they are copied from ``<mirror>/fsdd/recordings/``; without it the official
repository's archive at a pinned commit is downloaded once (about 14 MB) and each recording in it verified, and any
recording still missing is then fetched on its own.

The official split (the dataset's README): repetitions 0-4 of every digit and speaker are the test set (300
recordings), 5-49 the training set (2,700). Both sets hold the same six speakers: the split measures new
repetitions, not new voices.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import torch
from torch import Tensor
from tqdm.auto import tqdm

from utils.audio import MelConfig, fit_length, read_wav
from utils.download import (MIRROR_ENV, READ_TIMEOUT, ChecksumError, DownloadError, RemoteFile, default_deadline,
                            ensure_file)
from utils.paths import atomic_path, data_dir

FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"  # Jakobovski/free-spoken-digit-dataset, 3,000 recordings
FSDD_FILE_URL = f"https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/{FSDD_COMMIT}/"
FSDD_ARCHIVE_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.tar.gz"
FSDD_MANIFEST = Path(__file__).resolve().parent / "manifests" / "fsdd.tsv"
FSDD_MANIFEST_SHA256 = "e0d61b3f00d11bc3060ec186c0a6cc3eeecc6247da3b13eff736e328b7a4ce8a"
ARCHIVE_MAX_BYTES = 64 * 1024 * 1024  # the archive is about 14 MB; anything far larger is not it
SPEAKERS: tuple[str, ...] = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
TEST_REPETITIONS = range(5)  # the official split: repetitions 0-4 are the test set


@lru_cache(maxsize=1)
def fsdd_files() -> dict[str, RemoteFile]:
    """The catalogue of the 3,000 recordings, ``{"recordings/<digit>_<speaker>_<repetition>.wav": RemoteFile}``."""
    text = FSDD_MANIFEST.read_bytes()
    if hashlib.sha256(text).hexdigest() != FSDD_MANIFEST_SHA256:
        raise ChecksumError(f"{FSDD_MANIFEST} has been modified (its sha256 is not the pinned one): restore it with "
                            "`git checkout -- utils/manifests/fsdd.tsv` or reinstall the course.")
    files = {}
    for line in text.decode().splitlines():
        name, size, sha256 = line.split("\t")
        path = f"recordings/{name}"
        files[path] = RemoteFile("fsdd", path, sha256, int(size), FSDD_FILE_URL + path)
    return files


def extract_archive(archive: Path | str, root: Path | None = None) -> int:
    """Copy the catalogued recordings out of an FSDD ``.tar.gz`` (a local path) into ``<root>/fsdd/recordings``,
    each verified against the manifest and written atomically; other members are skipped. Returns how many
    recordings were written."""
    files = fsdd_files()
    folder = (root if root is not None else data_dir()) / "fsdd" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _extract_verified(archive, files, folder)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DownloadError(f"{archive} is not a complete FSDD archive ({type(err).__name__}: {err}). Try again, or "
                            f"set {MIRROR_ENV} to a folder that holds fsdd/recordings/ (see data/README.md).") from err


def _extract_verified(archive: Path | str, files: dict[str, RemoteFile], folder: Path) -> int:
    """Write each member named ``.../recordings/<name>`` whose bytes match the manifest to ``folder/<name>``; only the
    last path component is used, so no member can write outside ``folder``."""
    written = 0
    with tarfile.open(archive, mode="r|gz") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            key = "/".join(parts[-2:])
            if not member.isfile() or key not in files or (folder / parts[-1]).exists():
                continue
            data = tar.extractfile(member).read(files[key].size + 1)
            if len(data) != files[key].size or hashlib.sha256(data).hexdigest() != files[key].sha256:
                continue  # a recording that differs from the pinned one is fetched on its own afterwards
            with atomic_path(folder / parts[-1]) as tmp:
                Path(tmp).write_bytes(data)
            written += 1
    return written


def _download_archive(root: Path | None, progress: bool = True) -> None:
    """Fetch the official archive once and extract it (no mirror set, many recordings missing). Each read waits at
    most ``READ_TIMEOUT`` seconds, and the whole download at most ``default_deadline`` of ``ARCHIVE_MAX_BYTES``."""
    deadline = time.monotonic() + default_deadline(ARCHIVE_MAX_BYTES)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "fsdd.tar.gz"
        try:
            with (urllib.request.urlopen(FSDD_ARCHIVE_URL, timeout=READ_TIMEOUT) as response, open(archive, "wb") as out,
                  tqdm(unit="B", unit_scale=True, desc="fetching FSDD", disable=not progress) as bar):
                received = 0
                while chunk := response.read(1 << 20):
                    received += len(chunk)
                    if received > ARCHIVE_MAX_BYTES or time.monotonic() > deadline:
                        raise DownloadError(f"{FSDD_ARCHIVE_URL} sent more than {ARCHIVE_MAX_BYTES} bytes or took "
                                            f"too long; nothing was kept. Try again, or set {MIRROR_ENV}.")
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(
                f"could not download {FSDD_ARCHIVE_URL}: {getattr(err, 'reason', err)}. Check your internet "
                f"connection, or set {MIRROR_ENV} to a folder that holds fsdd/recordings/ (see data/README.md)."
            ) from err
        extract_archive(archive, root)


def ensure_fsdd(root: Path | None = None, progress: bool = True) -> Path:
    """The folder of the 3,000 verified recordings, fetched first where missing (see the module's docstring)."""
    files = fsdd_files()
    folder = (root if root is not None else data_dir()) / "fsdd"
    missing = [f for path, f in files.items() if not (folder / path).exists()]
    if len(missing) > 100 and not os.environ.get(MIRROR_ENV, "").strip():
        _download_archive(root, progress)
    for file in tqdm(files.values(), desc="checking FSDD recordings", disable=not (progress and missing)):
        ensure_file(file, root, progress=False)
    return folder


@dataclass(frozen=True)
class SpokenDigits:
    """Recordings of one split as tensors, in the manifest's (sorted) order."""

    waves: Tensor  # [N, clip_samples] float32 in [-1, 1], cropped or zero-padded at the end
    lengths: Tensor  # [N] int64: samples in the original recording (8,000 per second)
    digits: Tensor  # [N] int64 in 0-9
    speakers: Tensor  # [N] int64: index into SPEAKERS
    repetitions: Tensor  # [N] int64 in 0-49
    names: tuple[str, ...]  # file names, e.g. "7_theo_12.wav"


def parse_name(name: str) -> tuple[int, int, int]:
    """``"<digit>_<speaker>_<repetition>.wav"`` -> ``(digit, speaker index, repetition)``."""
    stem = name.removesuffix(".wav")
    digit, speaker, repetition = stem.split("_")
    if speaker not in SPEAKERS:
        raise ValueError(f"{name}: unknown speaker {speaker!r}; FSDD's speakers are {', '.join(SPEAKERS)}")
    return int(digit), SPEAKERS.index(speaker), int(repetition)


@lru_cache(maxsize=4)
def load_fsdd(split: str = "train", clip_samples: int = MelConfig().clip_samples) -> SpokenDigits:
    """The official ``"train"`` (2,700 recordings) or ``"test"`` (300) split of FSDD, each recording cropped or
    zero-padded at the end to ``clip_samples`` samples (default 1.008 s: 99.4% of the recordings fit whole)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = ensure_fsdd()
    rows = []
    for path in fsdd_files():
        name = PurePosixPath(path).name
        digit, speaker, repetition = parse_name(name)
        if (repetition in TEST_REPETITIONS) == (split == "test"):
            wave_ = read_wav(folder / path)
            rows.append((name, fit_length(wave_, clip_samples), len(wave_), digit, speaker, repetition))
    names, waves, lengths, digits, speakers, repetitions = zip(*rows)
    return SpokenDigits(torch.stack(waves), torch.tensor(lengths), torch.tensor(digits), torch.tensor(speakers),
                        torch.tensor(repetitions), names)
