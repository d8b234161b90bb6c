"""The tour as a class meets it: JupyterLab driven by a real headless Chromium through Run All of 00_tour (class
setting) and both sliders moved, after which git status is what it was before.

Opt-in (it takes minutes): `CNR_BROWSER_TEST=1 pytest tests/test_lab_browser.py`, with Chromium installed
(`apt-get install chromium`; or CNR_CHROMIUM=/path/to/chrome) and Playwright (`pip install ".[browser]"`; its own
browser download is not needed). CNR_BROWSER_SHOTS=<folder> keeps the screenshots."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnr.lab import lab_copies
from cnr.paths import INTERACTIVE_DIR, NOTEBOOK_DIR, REPO_ROOT

CHROMIUM = os.environ.get("CNR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.environ.get("CNR_BROWSER_TEST") != "1", reason="opt-in: CNR_BROWSER_TEST=1 (minutes)"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium, or set CNR_CHROMIUM)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="pip install '.[browser]' (Playwright)"),
]
TOKEN = "cnr-browser-test"
RUN_ALL_S = 1500  # Run All in the class setting on a loaded 2-core machine, with room


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_url(tmp_path):
    """JupyterLab on copies of the notebooks in tmp_path, as `make lab` starts it on results/interactive/notebooks."""
    copies = tmp_path / "lab"
    lab_copies(NOTEBOOK_DIR, copies)
    port = _free_port()
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--notebook-dir={copies}",
            f"--ServerApp.token={TOKEN}", "--ServerApp.ip=127.0.0.1", "--allow-root",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    # every cell kept in the page (JupyterLab 4 otherwise detaches cells out of view), no news pop-up; the user's
    # own settings and workspaces untouched
    settings = tmp_path / "settings"
    for plugin, value in (("notebook-extension/tracker", {"windowingMode": "none"}),
                          ("apputils-extension/notification", {"fetchNews": "false"})):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "server.log").open("w"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}/lab/tree/00_tour.ipynb?token={TOKEN}", copies
    finally:
        server.terminate()
        server.wait(timeout=60)


def _drag(page, handle, dx: float) -> None:
    """Press the mouse on a slider's handle, move it `dx` pixels and release it (a person's drag)."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def test_run_all_and_both_sliders_leave_the_repository_as_it_was(lab_url, tmp_path):
    from playwright.sync_api import sync_playwright

    url, copies = lab_url
    shots = Path(os.environ.get("CNR_BROWSER_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    before = _git_status()
    record = INTERACTIVE_DIR / "quick" / "notebooks" / "00_tour.json"
    started = time.time()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=300_000)  # a loaded machine serves JupyterLab's first page slowly
        page.locator(".jp-Notebook").wait_for(timeout=120_000)
        page.locator("#jp-main-statusbar >> text=Idle").first.wait_for(timeout=120_000)  # the cnr kernel is up
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        done = "interactive/quick/notebooks/00_tour.json"  # the last cell prints the session's record
        page.locator(".jp-OutputArea-output", has_text=done).wait_for(timeout=RUN_ALL_S * 1000)
        run_all_s = time.time() - started
        page.screenshot(path=str(shots / "run_all.png"), full_page=False)

        zoom = page.locator(".jp-CodeCell", has_text="zoomed_restoration(image").locator(".jp-OutputArea-output img")
        zoom.scroll_into_view_if_needed()
        zoom.screenshot(path=str(shots / "restoration.png"))
        width = page.evaluate("img => img.naturalWidth", zoom.element_handle())
        assert width >= 900, f"the zoomed restoration figure is {width} px wide"

        sliders = page.locator(".widget-slider .noUi-handle")
        assert sliders.count() == 2, "part 4 shows the QF and the N slider once each"
        figure = page.locator(".widget-output img").last
        for i, dx in enumerate((60, 40)):
            old = figure.get_attribute("src")
            sliders.nth(i).scroll_into_view_if_needed()
            _drag(page, sliders.nth(i), dx)
            page.wait_for_function("old => { const imgs = document.querySelectorAll('.widget-output img');"
                                   " const img = imgs[imgs.length - 1]; return img && img.src !== old; }",
                                   arg=old, timeout=120_000)
        readouts = [r.inner_text() for r in page.locator(".widget-slider .widget-readout").all()]
        assert readouts != ["20", "3"], readouts
        assert int(readouts[0]) <= 60  # the natural bank's largest QF: the slider stops there
        assert page.locator(".jp-OutputArea-output img").count() == 4  # zoom, example, teaser, sliders: none twice
        page.screenshot(path=str(shots / "sliders.png"), full_page=False)
        page.keyboard.press("Control+s")
        time.sleep(2)
        browser.close()
    print(f"Run All in the browser: {run_all_s:.0f} s; load {os.getloadavg()}")
    assert record.is_file() and record.stat().st_mtime >= started  # the session's own run folder
    assert "CLASS SETTING" in (copies / "00_tour.ipynb").read_text()  # the saved copy holds the session's outputs
    assert _git_status() == before
