"""utils.fsdd: the spoken-digit recordings' manifest, the official split, fetching from a mirror or an archive."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import torch

import utils.fsdd as fsdd
from utils.download import ChecksumError, DownloadError

MIRROR = os.environ.get("COURSE_DATA_MIRROR")  # read before fixtures clear it
NEEDS_MIRROR = pytest.mark.skipif(not MIRROR, reason="needs COURSE_DATA_MIRROR (set by .ci/run); tests stay offline")


def test_manifest_is_pinned_and_complete():
    files = fsdd.fsdd_files()
    assert len(files) == 3000
    assert hashlib.sha256(fsdd.FSDD_MANIFEST.read_bytes()).hexdigest() == fsdd.FSDD_MANIFEST_SHA256
    parsed = [fsdd.parse_name(Path(path).name) for path in files]
    digits, speakers, repetitions = (torch.tensor(column) for column in zip(*parsed))
    assert digits.bincount().tolist() == [300] * 10 and speakers.bincount().tolist() == [500] * 6
    assert sorted(set(repetitions.tolist())) == list(range(50))
    some = files["recordings/7_theo_12.wav"]
    assert some.dataset == "fsdd" and some.url.endswith(f"{fsdd.FSDD_COMMIT}/recordings/7_theo_12.wav")


def test_a_modified_manifest_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "fsdd.tsv"
    copy.write_bytes(fsdd.FSDD_MANIFEST.read_bytes().replace(b"4812", b"4813", 1))
    monkeypatch.setattr(fsdd, "FSDD_MANIFEST", copy)
    fsdd.fsdd_files.cache_clear()
    try:
        with pytest.raises(ChecksumError, match="has been modified"):
            fsdd.fsdd_files()
    finally:
        fsdd.fsdd_files.cache_clear()


def test_parse_name():
    assert fsdd.parse_name("7_theo_12.wav") == (7, fsdd.SPEAKERS.index("theo"), 12)
    with pytest.raises(ValueError, match="unknown speaker 'alice'"):
        fsdd.parse_name("1_alice_3.wav")


def test_load_fsdd_rejects_unknown_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        fsdd.load_fsdd("validation")


def test_without_mirror_or_network_the_error_says_what_to_do(empty_data_dir):
    with pytest.raises(DownloadError, match="COURSE_DATA_MIRROR"):
        fsdd.ensure_fsdd(progress=False)


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_truncated_archive_is_a_download_error(empty_data_dir, tmp_path):
    whole = _archive(tmp_path / "whole.tar.gz", {"x/recordings/0_george_0.wav": bytes(range(256)) * 400})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(DownloadError, match="not a complete FSDD archive"):
        fsdd.extract_archive(truncated)
    (tmp_path / "page.tar.gz").write_text("<html>rate limited</html>")
    with pytest.raises(DownloadError, match="COURSE_DATA_MIRROR"):
        fsdd.extract_archive(tmp_path / "page.tar.gz")


@NEEDS_MIRROR
def test_extract_archive_keeps_only_verified_recordings(empty_data_dir, tmp_path):
    source = Path(MIRROR) / "fsdd" / "recordings"
    good = (source / "0_george_0.wav").read_bytes()
    also_good = (source / "9_yweweler_49.wav").read_bytes()
    prefix = f"free-spoken-digit-dataset-{fsdd.FSDD_COMMIT}"
    archive = _archive(tmp_path / "fsdd.tar.gz", {
        f"{prefix}/recordings/0_george_0.wav": good,
        f"{prefix}/recordings/9_yweweler_49.wav": also_good,
        f"{prefix}/recordings/1_george_0.wav": good,  # the wrong bytes for this name
        f"{prefix}/recordings/extra.wav": good,  # not in the manifest
        f"{prefix}/README.md": b"readme",
        "../../recordings/9_yweweler_48.wav": (source / "9_yweweler_48.wav").read_bytes(),  # stays in the folder
    })
    assert fsdd.extract_archive(archive) == 3
    written = sorted(p.name for p in (empty_data_dir / "fsdd" / "recordings").iterdir())
    assert written == ["0_george_0.wav", "9_yweweler_48.wav", "9_yweweler_49.wav"]
    assert sorted(p.name for p in empty_data_dir.iterdir()) == ["fsdd"]
    assert (empty_data_dir / "fsdd" / "recordings" / "0_george_0.wav").read_bytes() == good


@NEEDS_MIRROR
def test_load_fsdd_from_the_mirror_gives_the_official_split(empty_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", MIRROR)
    fsdd.load_fsdd.cache_clear()
    try:
        test = fsdd.load_fsdd("test")
        train = fsdd.load_fsdd("train", clip_samples=4000)
    finally:
        fsdd.load_fsdd.cache_clear()
    assert test.waves.shape == (300, 8064) and train.waves.shape == (2700, 4000)
    assert test.waves.dtype == torch.float32 and test.waves.abs().max() <= 1
    assert set(test.repetitions.tolist()) == set(range(5)) and set(train.repetitions.tolist()) == set(range(5, 50))
    assert test.digits.bincount().tolist() == [30] * 10 and train.speakers.bincount().tolist() == [450] * 6
    i = test.names.index("7_theo_2.wav")
    assert (test.digits[i], fsdd.SPEAKERS[test.speakers[i]], test.repetitions[i]) == (7, "theo", 2)
    # cropped or zero-padded at the end: a short clip's tail is silence, its length is recorded
    short = int(test.lengths.argmin())
    assert test.lengths[short] < 8064 and (test.waves[short, test.lengths[short]:] == 0).all()
    assert len(list((empty_data_dir / "fsdd" / "recordings").iterdir())) == 3000
