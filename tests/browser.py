"""A real headless Chromium for the status page tests, driven by Selenium through Debian's
``chromedriver`` (nothing is downloaded: Selenium Manager is never asked, the driver's path is
given).

Without Chromium the tests skip, saying how to run them; with ``SYNCER_REQUIRE_BROWSER=1`` (CI
sets it) the skip is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOW = ("the browser tests need Debian's Chromium and its driver (`apt-get install chromium "
       "chromium-driver`) and selenium (`pip install -e '.[dev]'`); .ci/run installs them, and "
       "SYNCER_REQUIRE_BROWSER=1 turns this skip into a failure")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1280,900")


def missing() -> str | None:
    """Why no browser test can run here (None: they can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.exists() and os.access(path, os.X_OK)):
            return f"{path} not found"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


def require_browser() -> None:
    why = missing()
    if why is None:
        return
    if os.environ.get("SYNCER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SYNCER_REQUIRE_BROWSER=1 but {why}: {HOW}")
    pytest.skip(f"{why}: {HOW}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium (a fresh profile) for a test module."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="syncer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def color_scheme(driver: Any, scheme: str) -> None:
    """Make the page see ``prefers-color-scheme: scheme`` (light or dark)."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": scheme}]})


def script_errors(driver: Any) -> list[str]:
    """The page's JavaScript errors and failed loads since the last call."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE"]
