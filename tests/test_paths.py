import os
from pathlib import Path

import pytest

from utils import paths


def test_default_folders_are_inside_the_repository(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    assert (paths.REPO_ROOT / "utils" / "paths.py").is_file()
    assert paths.data_dir() == paths.REPO_ROOT / "data"
    assert paths.runs_dir() == paths.REPO_ROOT / "runs"


def test_folders_follow_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "r"))
    assert paths.data_dir() == tmp_path / "d"
    assert paths.runs_dir() == tmp_path / "r"


def test_folders_do_not_depend_on_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    before = paths.data_dir()
    monkeypatch.chdir(tmp_path)
    assert paths.data_dir() == before


def test_atomic_write_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "b" / "file.bin"
    assert paths.atomic_write(target, b"payload") == target
    assert target.read_bytes() == b"payload"
    assert os.listdir(target.parent) == ["file.bin"]


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(paths.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        paths.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["file.bin"]


@pytest.fixture
def umask():
    """Set the process's umask for one test: ``umask(0o022)``; the original is restored afterwards."""
    original = os.umask(0o022)
    os.umask(original)
    yield lambda mask: os.umask(mask)
    os.umask(original)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_gives_files_the_mode_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    target = paths.atomic_write(tmp_path / "shared" / "file.bin", b"payload")
    assert target.stat().st_mode & 0o777 == mode  # not mkstemp's owner-only 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o777 & ~mask  # folders: the default mode


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_umask_is_read_without_proc_too(umask, monkeypatch):
    umask(0o027)
    assert paths.current_umask() == 0o027 and paths.file_mode() == 0o640

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(paths, "open", no_proc, raising=False)  # as on macOS
    assert paths.current_umask() == 0o027 and paths.file_mode() == 0o640
    assert os.umask(0o027) == 0o027  # and the umask is left as it was


def test_atomic_path_renames_a_filled_file_into_place_and_leaves_nothing_on_error(tmp_path):
    from utils.paths import atomic_path, file_mode

    target = tmp_path / "sub" / "model.onnx"
    with atomic_path(target) as name:
        Path(name).write_bytes(b"new")
        assert not target.exists()  # not visible until the block ends
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == file_mode()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as name:
            Path(name).write_bytes(b"half")
            raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
