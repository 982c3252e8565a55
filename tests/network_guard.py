"""Keeping tests, and every notebook kernel they start, off the internet.

``install()`` makes any connection or name lookup outside this machine fail at once with ``OfflineError`` (an
``OSError``, as a real network failure is, so code under test sees what it would see offline); loopback, which
JupyterLab and kernels use, and Unix sockets still work. ``kernel_profile(folder)`` writes an IPython profile whose
start-up file installs the guard: kernels started with ``IPYTHONDIR`` pointing at it are offline too. conftest.py
does both for the whole test session, so nbval's, the autograder's and the browser test's notebooks all run offline.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class OfflineError(OSError):
    """A test, or a notebook run by one, tried to reach the network."""


def is_local_host(host: object) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host in ("localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


def check_loopback(address: object) -> None:
    """Refuse an internet (AF_INET/AF_INET6) address that is not on this machine; Unix sockets pass."""
    if isinstance(address, tuple) and address and not is_local_host(address[0]):
        raise OfflineError(f"tests must not reach the network, but tried to connect to {address!r}")


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not is_local_host(host):  # no DNS lookups of outside names either
        raise OfflineError(f"tests must not reach the network, but tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: object) -> None:
    check_loopback(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    check_loopback(address)
    return _real_connect_ex(self, address)


def install() -> None:
    """Guard this process: connections and lookups outside the machine raise ``OfflineError``."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


def uninstall() -> None:
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


def kernel_profile(ipython_dir: Path) -> Path:
    """Write an IPython profile under ``ipython_dir`` whose kernels install the guard at start-up; return the dir."""
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    here = str(Path(__file__).resolve().parent)
    (startup / "00-offline.py").write_text(
        "# Written by tests/network_guard.py: this kernel must not reach the network.\n"
        f"import sys\nsys.path.insert(0, {here!r})\nimport network_guard\nnetwork_guard.install()\n"
        f"sys.path.remove({here!r})\n"
    )
    return ipython_dir
