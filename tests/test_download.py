import hashlib
import http.server
import os
import socket
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from utils import download
from utils.download import (
    ChecksumError,
    DownloadError,
    MissingDataError,
    RemoteFile,
    ensure_file,
    sha256_of,
    source_of,
    verify_checksum,
)

CONTENT = b"hello, generative models\n" * 100
TOY = RemoteFile("toy", "toy.txt", hashlib.sha256(CONTENT).hexdigest(), len(CONTENT), "https://example.invalid/toy.txt")


@pytest.fixture
def mirror(tmp_path, monkeypatch, empty_data_dir) -> Path:
    """A mirror folder laid out like data/, holding the toy file; $COURSE_DATA_MIRROR points at it."""
    root = tmp_path / "mirror"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "toy.txt").write_bytes(CONTENT)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(root))
    return root


@pytest.fixture
def http_mirror(mirror, monkeypatch):
    """The same mirror served over loopback HTTP; $COURSE_DATA_MIRROR is its base URL."""
    handler = partial(QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("COURSE_DATA_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    yield mirror
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_sha256_of_matches_known_digest(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_source_is_official_url_without_mirror(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    assert source_of(TOY) == TOY.url


def test_source_follows_mirror_folder_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path))
    assert source_of(TOY) == str(tmp_path / "toy" / "toy.txt")
    monkeypatch.setenv("COURSE_DATA_MIRROR", "http://127.0.0.1:8000/data/")
    assert source_of(TOY) == "http://127.0.0.1:8000/data/toy/toy.txt"


def test_fetches_from_mirror_folder_once(mirror, empty_data_dir):
    path = ensure_file(TOY, progress=False)
    assert path == empty_data_dir / "toy" / "toy.txt"
    assert path.read_bytes() == CONTENT
    (mirror / "toy" / "toy.txt").unlink()  # a second call uses the local copy
    assert ensure_file(TOY, progress=False) == path


def test_fetches_from_file_url(mirror, empty_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", mirror.as_uri())
    assert ensure_file(TOY, progress=False).read_bytes() == CONTENT


def test_fetches_over_loopback_http(http_mirror, empty_data_dir):
    assert ensure_file(TOY, progress=False).read_bytes() == CONTENT
    assert leftovers(empty_data_dir) == ["toy.txt"]


def test_real_dataset_over_loopback_http(http_mirror, empty_data_dir):
    """A catalogued dataset (names) fetched through an HTTP mirror and loaded."""
    from utils.data import load_names
    from utils.paths import REPO_ROOT

    (http_mirror / "makemore_names").mkdir()
    (http_mirror / "makemore_names" / "names.txt").write_bytes(
        (REPO_ROOT / "data/makemore_names/names.txt").read_bytes()
    )
    names = load_names()
    assert len(names) == 32033 and names[:2] == ["emma", "olivia"]
    assert (empty_data_dir / "makemore_names" / "names.txt").is_file()


def test_http_404_is_a_clear_error(http_mirror, empty_data_dir):
    missing = RemoteFile("toy", "absent.txt", TOY.sha256, TOY.size, TOY.url)
    with pytest.raises(DownloadError, match="HTTP 404"):
        ensure_file(missing, progress=False)
    assert leftovers(empty_data_dir) == []


def test_unreachable_source_says_what_to_do(empty_data_dir, monkeypatch):
    with socket.socket() as s:  # find a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("COURSE_DATA_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match="Check your internet connection, or set COURSE_DATA_MIRROR"):
        ensure_file(TOY, progress=False)
    assert leftovers(empty_data_dir) == []


def test_file_missing_from_mirror_folder_names_the_variable(mirror, empty_data_dir):
    (mirror / "toy" / "toy.txt").unlink()
    with pytest.raises(DownloadError, match=r"COURSE_DATA_MIRROR has no file .*toy.txt"):
        ensure_file(TOY, progress=False)


SHIPPED_TOY = RemoteFile("toy", "toy.txt", TOY.sha256, TOY.size, TOY.url, shipped=True)


def test_a_missing_shipped_file_says_to_restore_it_from_the_repository(mirror, tmp_path, monkeypatch):
    (mirror / "toy" / "toy.txt").unlink()
    monkeypatch.setattr(download, "REPO_ROOT", tmp_path)  # so that tmp_path/data is "the course's data/"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(MissingDataError, match=r"ships with the course: restore it with `git checkout -- data/toy`"):
        ensure_file(SHIPPED_TOY, progress=False)


def test_a_missing_shipped_file_in_another_data_folder_says_to_copy_it(mirror, empty_data_dir):
    (mirror / "toy" / "toy.txt").unlink()
    with pytest.raises(MissingDataError, match=r"COURSE_DATA_DIR points at .*Copy data/toy from the course there"):
        ensure_file(SHIPPED_TOY, progress=False)


def test_a_missing_shipped_file_is_fetched_when_a_source_has_it(mirror, empty_data_dir):
    assert ensure_file(SHIPPED_TOY, progress=False).read_bytes() == CONTENT


def test_corrupted_download_is_rejected_and_not_saved(mirror, empty_data_dir):
    corrupted = bytearray(CONTENT)
    corrupted[10] ^= 0xFF
    (mirror / "toy" / "toy.txt").write_bytes(bytes(corrupted))
    with pytest.raises(ChecksumError, match="does not hold the expected toy/toy.txt.*nothing was saved"):
        ensure_file(TOY, progress=False)
    assert leftovers(empty_data_dir) == []


def test_corrupted_local_file_is_detected_and_explained(empty_data_dir, monkeypatch):
    monkeypatch.setattr(download, "_verified", set())
    local = empty_data_dir / "toy" / "toy.txt"
    local.parent.mkdir()
    local.write_bytes(CONTENT[:-1] + b"!")  # same size, different bytes
    with pytest.raises(ChecksumError, match="corrupted or incomplete.*Delete it and run again.*git checkout"):
        ensure_file(TOY, progress=False)
    local.write_bytes(CONTENT[:50])  # truncated
    with pytest.raises(ChecksumError, match="found 50 bytes"):
        verify_checksum(local, TOY.sha256, TOY.size)


def test_checksum_error_ends_with_the_given_remedy(empty_data_dir):
    local = empty_data_dir / "toy.txt"
    local.write_bytes(b"x")
    with pytest.raises(ChecksumError, match=r"found 1 bytes\. Retrain it\.$"):
        verify_checksum(local, TOY.sha256, TOY.size, remedy="Retrain it.")


def test_verification_notices_a_file_changed_after_it_was_verified(empty_data_dir):
    local = empty_data_dir / "toy.txt"
    local.write_bytes(CONTENT)
    verify_checksum(local, TOY.sha256, TOY.size)
    local.write_bytes(CONTENT[:100])
    with pytest.raises(ChecksumError):
        verify_checksum(local, TOY.sha256, TOY.size)


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves CONTENT for any path, one byte every 0.2 s, for at most 4 s (a mirror that all but stalls)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        stop = time.monotonic() + 4
        try:
            for i in range(len(CONTENT)):
                if time.monotonic() > stop:
                    break
                self.wfile.write(CONTENT[i : i + 1])
                time.sleep(0.2)
        except OSError:  # the client gave up
            pass

    def log_message(self, *args):
        pass


class EndlessHandler(http.server.BaseHTTPRequestHandler):
    """Serves CONTENT followed by up to 200 MB of zeros, without announcing a length; records whether it got to
    the end."""

    finished = threading.Event()
    broke_off = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            self.wfile.write(CONTENT)
            for _ in range(200 * 16):
                self.wfile.write(bytes(1 << 16))
            type(self).finished.set()
        except OSError:
            type(self).broke_off.set()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(monkeypatch, empty_data_dir):
    """``serve(Handler)`` runs a loopback HTTP server with that handler and points $COURSE_DATA_MIRROR at it."""
    servers = []

    def start(handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("COURSE_DATA_MIRROR", f"http://127.0.0.1:{server.server_port}/")
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_trickling_mirror_fails_at_the_deadline_instead_of_hanging(serve, empty_data_dir):
    serve(SlowHandler)  # 2,500 bytes at 5 bytes/s: 500 s
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than its deadline of 1 s \(\d+ of 2500 bytes arrived\)"):
        ensure_file(TOY, progress=False, deadline=1)
    assert time.monotonic() - start < 4  # the whole body would take 500 s
    assert leftovers(empty_data_dir) == []


class SilentHandler(http.server.BaseHTTPRequestHandler):
    """Announces CONTENT, then sends nothing for 2 s."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        time.sleep(2)

    def log_message(self, *args):
        pass


def test_a_mirror_that_goes_silent_fails_after_the_read_timeout(serve, empty_data_dir, monkeypatch):
    monkeypatch.setattr(download, "READ_TIMEOUT", 0.3)  # a minute in real use
    serve(SilentHandler)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"no data for 0.3 s \(0 of 2500 bytes arrived\)"):
        ensure_file(TOY, progress=False, deadline=10)
    assert time.monotonic() - start < 1.5


def test_the_default_deadline_scales_with_the_size_and_a_bad_one_is_refused(mirror):
    assert download.default_deadline(0) == 60 and download.default_deadline(26_421_880) == pytest.approx(463, abs=1)
    for bad in (0, -1, float("inf"), float("nan"), "10", True):
        with pytest.raises(ValueError, match=r"deadline must be a number of seconds > 0 \(or None for 60 s"):
            ensure_file(TOY, progress=False, deadline=bad)


def test_a_body_far_larger_than_the_file_is_cut_off_one_byte_past_its_size(serve, empty_data_dir):
    EndlessHandler.finished.clear()
    EndlessHandler.broke_off.clear()
    serve(EndlessHandler)
    with pytest.raises(ChecksumError, match=r"does not hold the expected toy/toy.txt \(2500 bytes\).*more than 2500"):
        ensure_file(TOY, progress=False)
    assert EndlessHandler.broke_off.wait(10) and not EndlessHandler.finished.is_set()  # 200 MB were not read
    assert leftovers(empty_data_dir) == []


def test_an_announced_length_larger_than_the_file_fails_before_reading(mirror, empty_data_dir):
    (mirror / "toy" / "toy.txt").write_bytes(CONTENT + b"!")
    with pytest.raises(ChecksumError, match=r"serves a different file; nothing was saved.*announces 2501 bytes"):
        ensure_file(TOY, progress=False)
    assert leftovers(empty_data_dir) == []


def test_stale_partial_files_of_a_killed_fetch_are_removed_but_not_live_ones(mirror, empty_data_dir):
    folder = empty_data_dir / "toy"
    folder.mkdir()
    stale, live = folder / ".toy.txt.k1ll3d_x.part", folder / ".toy.txt.abcd1234.part"
    other_file, not_a_part = folder / ".toy.txt.gz.old12345.part", folder / "notes.part"
    for path in (stale, live, other_file, not_a_part):
        path.write_bytes(b"partial")
    day_ago = time.time() - 86_400
    for path in (stale, other_file, not_a_part):
        os.utime(path, (day_ago, day_ago))
    ensure_file(TOY, progress=False)
    assert leftovers(folder) == sorted([".toy.txt.abcd1234.part", ".toy.txt.gz.old12345.part", "notes.part",
                                        "toy.txt"])  # fmt: skip


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_downloads_get_the_mode_the_umask_allows(http_mirror, empty_data_dir, mask, mode):
    original = os.umask(mask)
    try:
        path = ensure_file(TOY, progress=False)
    finally:
        os.umask(original)
    assert path.stat().st_mode & 0o777 == mode
    assert path.parent.stat().st_mode & 0o777 == 0o777 & ~mask


def test_data_readme_states_the_default_deadline_of_the_largest_file():
    from utils.data import CATALOGUE
    from utils.paths import REPO_ROOT

    largest = max((f for files in CATALOGUE.values() for f in files.values()), key=lambda f: f.size)
    assert (largest.dataset, largest.name) == ("fashion_mnist", "train-images-idx3-ubyte.gz")
    minutes = download.default_deadline(largest.size) / 60
    readme = " ".join((REPO_ROOT / "data" / "README.md").read_text().split())
    assert f"{minutes:.1f} minutes for Fashion-MNIST's training images" in readme
