"""The guard in conftest.py that keeps tests off the internet (checked without sending any traffic)."""

import socket
import urllib.request

import pytest
from conftest import _check_loopback, is_local_host


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.5.5.5", "::1", b"localhost"])
def test_local_hosts_are_allowed(host):
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["example.com", "192.0.2.1", "10.0.0.1", "::ffff:8.8.8.8", ""])
def test_other_hosts_are_not(host):
    assert not is_local_host(host)


def test_connecting_outside_is_refused_before_any_packet():
    with pytest.raises(RuntimeError, match="must not reach the network"):
        _check_loopback(("192.0.2.1", 80))
    _check_loopback(("127.0.0.1", 80))  # loopback passes


def test_name_lookups_and_downloads_are_refused():
    with pytest.raises(RuntimeError, match="tried to resolve 'example.com'"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(Exception, match="must not reach the network"):
        urllib.request.urlopen("https://example.com/", timeout=1)
