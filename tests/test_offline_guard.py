"""The network guard (tests/network_guard.py): tests and the notebook kernels they start cannot reach the internet.

Checked without sending any traffic. Running offline from the shipped data is what every notebook test then shows.
"""

import os
import socket
import urllib.request

import nbclient
import nbformat
import pytest
from network_guard import OfflineError, check_loopback, is_local_host


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.5.5.5", "::1", b"localhost"])
def test_local_hosts_are_allowed(host):
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["example.com", "192.0.2.1", "10.0.0.1", "::ffff:8.8.8.8", ""])
def test_other_hosts_are_not(host):
    assert not is_local_host(host)


def test_connecting_outside_is_refused_before_any_packet():
    with pytest.raises(OfflineError, match="must not reach the network"):
        check_loopback(("192.0.2.1", 80))
    check_loopback(("127.0.0.1", 80))  # loopback passes


def test_name_lookups_and_downloads_fail_as_they_do_offline():
    with pytest.raises(OSError, match="tried to resolve 'example.com'"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(OSError, match="must not reach the network"):  # urllib's URLError is an OSError
        urllib.request.urlopen("https://example.com/", timeout=1)


def test_notebook_kernels_are_offline_and_a_missing_data_file_says_how_to_fix_it(tmp_path):
    """A kernel started by the tests cannot connect out; loading a shipped dataset that is missing, with no network
    and no mirror, fails with one message that says how to restore it."""
    assert os.environ["IPYTHONDIR"], "conftest.py points kernels at the offline profile"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)"),
        nbformat.v4.new_code_cell(
            "import os\n"
            f"os.environ['COURSE_DATA_DIR'] = {str(tmp_path / 'empty')!r}\n"
            "os.environ.pop('COURSE_DATA_MIRROR', None)\n"
            "from utils.data import load_mnist\nload_mnist('test')"
        ),
    ]
    nbclient.NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    connect, load = (cell.outputs[-1] for cell in nb.cells)
    assert connect.output_type == "error" and connect.ename == "OfflineError"
    assert load.output_type == "error" and load.ename == "MissingDataError", load
    assert "Copy data/mnist from the course there, or unset COURSE_DATA_DIR" in load.evalue
    assert "must not reach the network" in load.evalue  # the download it tried instead was refused
