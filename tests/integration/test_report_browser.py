"""`ncf report`'s page opened in headless Chromium: its plots render, offline, without script errors.

Needs Playwright's Python package and a Chromium binary (Debian: ``apt-get install chromium``;
``$NCF_CHROMIUM`` names another one); skipped without them. Set ``NCF_SCREENSHOT_DIR`` to keep the
full-page screenshot for a person to look at.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ncf.app import RunDir, RunSpec, train
from ncf.viz import write_report

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("NCF_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PLOTS = ("plot-curves", "plot-map", "plot-longtail")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, neumf_dir, small_data) -> Path:
    root = tmp_path_factory.mktemp("browser")
    spec = RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "dim": 16, "epochs": 4,
                                          "lr": 0.02, "valid": True, "batch-size": 512}))
    train(spec, root / "run", show_progress=False)
    rundir = RunDir(root / "run")
    rundir.save_titles([f"{t} <&>" for t in small_data.item_titles])  # markup in titles must stay text
    rundir.save_features(small_data.user_features, small_data.item_features)
    out = root / "report.html"
    write_report(root / "run", out, map_method="pca", num_examples=3, show_progress=False)
    return out


def test_the_report_renders_its_plots_offline_without_errors(report_page, tmp_path):
    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    with playwright_api.sync_playwright() as p:
        # Playwright gives every launch a fresh temporary profile (its own --user-data-dir)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # anything but the file itself (and inline data) would be a fetch; the machine may be offline
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(report_page.as_uri())
            page.wait_for_function(
                "ids => ids.every(id => document.querySelector('#' + id + ' .main-svg'))", arg=list(PLOTS),
                timeout=30_000)
            assert page.evaluate("typeof window.Plotly") == "object"
            assert page.evaluate("document.querySelectorAll('#plot-map .scatterlayer .point').length") == 200
            assert page.evaluate("document.querySelectorAll('#plot-curves .scatterlayer .point').length") >= 4
            assert page.evaluate("document.querySelectorAll('#plot-longtail .barlayer .point').length") == 30
            assert page.evaluate("document.querySelectorAll('.card').length") == 3
            assert "<&>" in page.inner_text("#users")  # titles shown as text, not parsed as markup
            map_png = page.locator("#plot-map").screenshot()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == [] and console == [] and requests == []
    assert _coloured_pixels(map_png) > 2_000  # the points were painted, not only the axes
    keep = os.environ.get("NCF_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "report.png")


def _coloured_pixels(png: bytes) -> int:
    """Pixels with a clear colour (not white, grey or black): the map's points."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return int((spread > 60).sum())
