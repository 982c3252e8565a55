"""Shared fixtures. Tests never reach the internet: any connection to a non-loopback address fails loudly."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # no windows during tests

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def is_local_host(host: object) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host in ("localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


def _check_loopback(address: object) -> None:
    """Refuse an internet (AF_INET/AF_INET6) address that is not on this machine; Unix sockets pass."""
    if isinstance(address, tuple) and address and not is_local_host(address[0]):
        raise RuntimeError(f"tests must not reach the network, but tried to connect to {address!r}")


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not is_local_host(host):  # no DNS lookups of outside names either
        raise RuntimeError(f"tests must not reach the network, but tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_loopback(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_loopback(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def no_internet():
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty runs folder (``$COURSE_RUNS_DIR``)."""
    path = tmp_path / "runs"
    monkeypatch.setenv("COURSE_RUNS_DIR", str(path))
    return path


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty data folder (``$COURSE_DATA_DIR``) with no mirror configured."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(path))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return path
