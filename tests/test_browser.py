"""End to end in a real browser: JupyterLab on loopback, a chapter run through its UI in headless Chromium.

This is what a student does: open the notebook in JupyterLab, choose *Run → Run All Cells*, read the outputs. The
test checks that every code cell ran and none shows an error, that the ipywidgets panel rendered as a live widget
(its slider redraws the figure), and that matplotlib figures appeared. Screenshots land in the test's temporary
folder (pytest prints where with ``-rA``; the newest run's folder is ``/tmp/pytest-of-$USER/pytest-current``).

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
from pathlib import Path

import nbformat
import pytest

from utils.paths import REPO_ROOT

CHAPTER = REPO_ROOT / "chapters" / "01_feedforward.ipynb"  # the quickest chapter with a widget and figures
RUN_ALL_TIMEOUT_S = 600
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


@contextmanager
def jupyter_lab(root: Path, home: Path) -> Iterator[str]:
    """Run JupyterLab serving ``root`` on loopback, with its state under ``home``; yield its URL with the token."""
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
    log_path = home / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; its log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.25)
        yield f"{base}/lab/tree/{{path}}?token={token}&reset"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


ALL_CELLS_RAN = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
    return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""
ANY_CELL_STARTED = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .some(p => /^\\[(\\*|\\d+)\\]:$/.test(p.textContent.trim()))"""


def test_a_chapter_runs_in_jupyterlab_in_chromium(tmp_path):
    sync_api = playwright_sync_api()
    executable = chromium_path()
    root = tmp_path / "lab"
    root.mkdir()
    notebook = root / CHAPTER.name
    shutil.copy(CHAPTER, notebook)

    with jupyter_lab(root, tmp_path) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # A "Select Kernel" dialog can still open while the session starts; accept its default (the notebook's
        # Python 3 kernel) whenever one blocks an action, as a student would.
        dialog = page.locator(".jp-Dialog")
        page.add_locator_handler(dialog, lambda d: d.locator(".jp-mod-accept").click())
        try:
            page.goto(url.format(path=notebook.name))
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=120_000)

            # Run → Run All Cells, as a student would; retried once if the UI was not ready for the click.
            started = time.monotonic()
            for attempt in range(2):
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                try:
                    page.wait_for_function(ANY_CELL_STARTED, timeout=30_000)
                    break
                except sync_api.TimeoutError:
                    if attempt == 1:
                        raise
                    page.keyboard.press("Escape")
            page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_ALL_TIMEOUT_S * 1000, polling=1000)
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
