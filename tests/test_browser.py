"""End to end in a real browser: JupyterLab on loopback, a chapter run through its UI in headless Chromium.

This is what a student does: open the notebook in JupyterLab, choose *Run → Run All Cells*, read the outputs. The
test checks that every code cell ran and none shows an error, that the ipywidgets panel rendered as a live widget
(its slider redraws the figure), and that matplotlib figures appeared. Screenshots land in the test's temporary
folder (pytest prints where with ``-rA``; the newest run's folder is ``/tmp/pytest-of-$USER/pytest-current``).

Run All is clicked only once the notebook's session has its own kernel, idle, connected and stable: JupyterLab's
execution indicator says "idle" before any kernel exists, and a Run All clicked then can end with the requests queued
for a kernel that JupyterLab replaces, so that no cell ever runs. Progress is then watched through the prompts and the
REST API; a run that does not start, or stalls, is retried once, and a second stall fails at once with the cell counts,
the sessions and kernels, the end of JupyterLab's log and a screenshot.

Needs Chromium (Debian: ``apt-get install chromium``, or set ``$CHROMIUM`` to a Chrome/Chromium binary) and
Playwright's Python package (``pip install -e .[browser]``); ``make browser`` installs both. Without them the test
is skipped, unless ``$COURSE_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where their absence fails it.
Run just this test with ``pytest -m browser``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from utils.paths import REPO_ROOT

CHAPTER = REPO_ROOT / "chapters" / "01_feedforward.ipynb"  # the quickest chapter with a widget and figures
# All of Run All, a retry included (it starts over), so that a real hang still ends: the notebook takes ~1-2 min on
# an otherwise idle machine, and up to ~7 min was seen while other jobs loaded a 2-core one.
RUN_ALL_TIMEOUT_S = 900
KERNEL_READY_TIMEOUT_S = 120  # from opening the notebook (or a stalled run) to a stable, idle kernel
KERNEL_STABLE_S = 3  # the session's kernel must stay the same, idle and connected this long
START_TIMEOUT_S = 30  # Run All clicked, and no cell shows [*] or [n] this long: the click was lost
STALL_S = 20  # cells still to run, and none running on a busy kernel this long: the run stalled
# Chromium flags for a headless run on a machine without a network: no sandbox when root, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# JupyterLab user settings for the test: render every cell (no windowing, so all outputs are in the page), start
# the notebook's kernel without asking, and never fetch news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}

pytestmark = pytest.mark.browser


def _required() -> bool:
    return os.environ.get("COURSE_REQUIRE_BROWSER") == "1"


def chromium_path() -> str:
    """The Chromium binary to drive: ``$CHROMIUM`` or the first of the usual names on the PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    message = "no Chromium found: `make browser` installs it (or set $CHROMIUM to a Chrome/Chromium binary)"
    if _required():
        pytest.fail(message)
    pytest.skip(message)


def playwright_sync_api():
    """Playwright's synchronous API, or a skip (a failure where the browser test is required)."""
    try:
        from playwright import sync_api
    except ImportError:
        message = "Playwright is not installed: `make browser` installs it"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    return sync_api


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token and its log."""

    base: str  # http://127.0.0.1:PORT
    token: str
    log_path: Path

    def url(self, path: str) -> str:
        """The page that opens ``path`` (relative to the served root) in a fresh workspace."""
        return f"{self.base}/lab/tree/{path}?token={self.token}&reset"

    def api(self, name: str) -> list[dict]:
        """The JSON of ``GET /api/<name>`` (``sessions``, ``kernels``)."""
        with urllib.request.urlopen(f"{self.base}/api/{name}?token={self.token}", timeout=10) as response:
            return json.load(response)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def jupyter_lab(root: Path, home: Path) -> Iterator[Lab]:
    """Run JupyterLab serving ``root`` on loopback, with its state under ``home``; yield it as a ``Lab``."""
    token = secrets.token_hex(16)
    port = free_port()
    settings = home / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        COURSE_RUNS_DIR=str(home / "runs"),
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    lab = Lab(base=f"http://127.0.0.1:{port}", token=token, log_path=home / "jupyterlab.log")
    with open(lab.log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{lab.base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; its log:\n{lab.log_tail(3000)}")
                time.sleep(0.25)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# The code cells' prompts: "[n]:" ran, "[*]:" running or queued, "[ ]:" not run.
CELL_COUNTS = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    const done = prompts.filter(p => /^\\[\\d+\\]:$/.test(p)).length;
    const running = prompts.filter(p => p === '[*]:').length;
    return {done, running, not_run: prompts.length - done - running, total: prompts.length};
}"""
# The notebook toolbar's kernel: its name ("No Kernel" before the session has one) and the execution indicator's
# status (which says "idle" even then).
PAGE_KERNEL = """() => ({
    name: document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName')?.textContent.trim() ?? '',
    status: document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.dataset.status ?? '',
})"""


def rest_state(lab: Lab) -> dict:
    """JupyterLab's sessions and kernels as its REST API reports them (an ``error`` entry if it did not answer)."""
    try:
        return {"sessions": lab.api("sessions"), "kernels": lab.api("kernels")}
    except (OSError, ValueError) as error:
        return {"sessions": [], "kernels": [], "error": repr(error)}


def notebook_kernel(state: dict, notebook: str) -> dict | None:
    """The kernel of the one session open on ``notebook``, or None while there is not exactly one such session."""
    sessions = [s for s in state["sessions"] if s.get("path") == notebook]
    return sessions[0].get("kernel") if len(sessions) == 1 else None


def kernel_not_ready(state: dict, notebook: str, page_kernel: dict) -> str:
    """Why the notebook's kernel is not ready for Run All yet, or "" when it is: one session, its kernel idle and
    connected, and the page showing that kernel, idle."""
    kernel = notebook_kernel(state, notebook)
    if kernel is None:
        return f"not exactly one session with a kernel for {notebook}"
    if kernel.get("execution_state") != "idle":
        return f"the session's kernel is {kernel.get('execution_state')}"
    if kernel.get("connections", 0) < 1:
        return "the page is not connected to the session's kernel"
    if page_kernel["name"] in ("", "No Kernel") or page_kernel["status"] != "idle":
        return f"the page shows kernel {page_kernel['name']!r}, {page_kernel['status']!r}"
    return ""


def wait_for_stable_kernel(page, lab: Lab, notebook: str, tmp_path: Path, deadline: float) -> str:
    """Wait until the notebook's session has its own kernel, idle and connected, the same one for
    ``KERNEL_STABLE_S`` (twice that while another kernel is still alive), and the page shows it idle; return its id.
    Fail after ``KERNEL_READY_TIMEOUT_S``, or at ``deadline`` if that comes first.

    JupyterLab can start a kernel and replace it moments later: requests sent to the first one are lost."""
    deadline = min(deadline, time.monotonic() + KERNEL_READY_TIMEOUT_S)
    kernel_id, since, why = None, time.monotonic(), "no answer yet"
    while time.monotonic() < deadline:
        state = rest_state(lab)
        why = kernel_not_ready(state, notebook, page.evaluate(PAGE_KERNEL))
        kernel = notebook_kernel(state, notebook)
        current = None if why else kernel["id"]
        if current != kernel_id:
            kernel_id, since = current, time.monotonic()
        others = [k for k in state["kernels"] if k.get("id") != kernel_id]
        if kernel_id and time.monotonic() - since >= KERNEL_STABLE_S * (2 if others else 1):
            return kernel_id
        time.sleep(0.25)
    why = f"the notebook's kernel was not ready in time: {why}"
    pytest.fail(diagnosis(page, lab, tmp_path, why))


def click_run_all(page) -> None:
    """Run → Run All Cells, as a student would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def watch_run_all(page, lab: Lab, notebook: str, kernel_id: str, deadline: float) -> str:
    """Follow a Run All sent to kernel ``kernel_id`` until every code cell ran (return "") or it is stuck (return
    why): no cell started within ``START_TIMEOUT_S``; ``STALL_S`` without a cell finishing while none shows "[*]",
    or while the session's kernel is no longer ``kernel_id`` (requests sent to a kernel since replaced are lost);
    or past ``deadline``. The REST API's ``execution_state`` is no guide here: it can read "idle" while a cell runs."""
    clicked = last_progress = time.monotonic()
    last_done = 0
    while True:
        counts = page.evaluate(CELL_COUNTS)
        now = time.monotonic()
        if counts["total"] and counts["done"] == counts["total"]:
            return ""
        state = rest_state(lab)
        kernel = notebook_kernel(state, notebook) or {}
        # A REST API too busy to answer is no sign that the kernel changed.
        same_kernel = "error" in state or (kernel.get("id") == kernel_id and kernel.get("execution_state") != "dead")
        if counts["done"] != last_done or (counts["running"] and same_kernel):
            last_done, last_progress = counts["done"], now
        elif counts["done"] == 0 and counts["running"] == 0:
            if now - clicked > START_TIMEOUT_S:
                return f"{START_TIMEOUT_S} s after Run All, no cell has run or is running"
        elif now - last_progress > STALL_S:
            if same_kernel:
                return f"Run All stalled: for {STALL_S} s no cell finished and none is running"
            return (
                f"Run All stalled: for {STALL_S} s no cell finished, and the session's kernel is {kernel or None}, "
                f"not {kernel_id} that Run All went to"
            )
        if now > deadline:
            return f"Run All did not finish within {RUN_ALL_TIMEOUT_S} s"
        time.sleep(1)


def diagnosis(page, lab: Lab, tmp_path: Path, why: str) -> str:
    """A failure message: ``why``, the cells' prompts, the sessions and kernels, JupyterLab's log and a screenshot."""
    screenshot = tmp_path / "stalled.png"
    try:
        page.screenshot(path=str(screenshot))
    except Exception as error:  # the page itself may be what broke
        screenshot = f"none ({error!r})"
    try:
        counts = page.evaluate(CELL_COUNTS)
        cells = f"{counts['done']} done, {counts['running']} running, {counts['not_run']} not run"
    except Exception as error:
        cells = f"unknown ({error!r})"
    return (
        f"{why}\ncode cells: {cells}\nREST API: {json.dumps(rest_state(lab), indent=1)}\n"
        f"screenshot: {screenshot}\nend of JupyterLab's log ({lab.log_path}):\n{lab.log_tail()}"
    )


def test_a_chapter_runs_in_jupyterlab_in_chromium(tmp_path):
    sync_api = playwright_sync_api()
    executable = chromium_path()
    root = tmp_path / "lab"
    root.mkdir()
    notebook = root / CHAPTER.name
    shutil.copy(CHAPTER, notebook)

    with jupyter_lab(root, tmp_path) as lab, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # A "Select Kernel" dialog can still open while the session starts; accept its default (the notebook's
        # Python 3 kernel) whenever one blocks an action, as a student would.
        dialog = page.locator(".jp-Dialog")
        page.add_locator_handler(dialog, lambda d: d.locator(".jp-mod-accept").click())
        try:
            page.goto(lab.url(notebook.name))
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)

            # Run → Run All Cells once the kernel is settled; retried once if the run does not start or stalls.
            deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
            for attempt in (1, 2):
                kernel_id = wait_for_stable_kernel(page, lab, notebook.name, tmp_path, deadline)
                if attempt == 1:
                    started = time.monotonic()
                click_run_all(page)
                stuck = watch_run_all(page, lab, notebook.name, kernel_id, deadline)
                if not stuck:
                    break
                if attempt == 2 or time.monotonic() > deadline:
                    pytest.fail(diagnosis(page, lab, tmp_path, f"{stuck} (attempt {attempt} of 2)"))
                print(f"Run All attempt 1: {stuck} ({page.evaluate(CELL_COUNTS)}); retrying")
                page.keyboard.press("Escape")  # close a dialog or menu left open
            seconds = time.monotonic() - started
            page.screenshot(path=str(tmp_path / "end-of-notebook.png"))

            # An ipywidgets panel rendered as a widget (not as its text repr), and live: the slider redraws.
            panel = page.locator(".jp-OutputArea-output .widget-interact").first
            panel.scroll_into_view_if_needed()
            slider = panel.locator(".widget-slider").first
            assert slider.is_visible(), "the interact panel has no visible slider"
            figure = panel.locator("img").first
            before = figure.get_attribute("src")
            slider.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([panel, before]) => { const img = panel.querySelector('img'); return img && img.src !== before; }",
                arg=[panel.element_handle(), before],
                timeout=60_000,
            )
            page.screenshot(path=str(tmp_path / "widget.png"))
            text_outputs = " ".join(page.locator(".jp-OutputArea-output").all_text_contents())
            assert "interactive(children=" not in text_outputs and "IntSlider(" not in text_outputs

            # Matplotlib figures appeared as images.
            figures = page.locator(".jp-OutputArea-output[data-mime-type='image/png'] img").count()
            assert figures >= 5, f"expected the chapter's figures, found {figures} images"

            # No error in the page, and none in the notebook as the UI saves it.
            tracebacks = [t for t in page.locator(".jp-OutputArea-output").all_text_contents() if "Traceback" in t]
            assert not tracebacks, f"a cell shows an error:\n{tracebacks[0][-2000:]}"
            page.keyboard.press("Control+s")
            page.wait_for_function(
                "() => !document.querySelector('.jp-Document.jp-mod-dirty, .lm-TabBar-tab.jp-mod-dirty')",
                timeout=30_000,
            )
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()

    saved = nbformat.read(notebook, as_version=4)
    code_cells = [c for c in saved.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), "the saved notebook has cells that did not run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"the saved notebook shows an error: {errors[0].ename}: {errors[0].evalue}"
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for c in code_cells for o in c.outputs)
    print(
        f"{CHAPTER.name}: all {len(code_cells)} code cells ran in JupyterLab/Chromium in {seconds:.0f} s; "
        f"screenshots in {tmp_path}"
    )
