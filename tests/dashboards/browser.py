"""Headless Chromium through Selenium, for the dashboard tests, screenshots and the benchmark.

Debian's ``chromium`` and ``chromium-driver`` (``scripts/system-deps.sh``); the window is
1920×1080, a wall screen. Console messages are kept so tests can require none at
level SEVERE.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

WIDTH, HEIGHT = 1920, 1080


def chromium() -> WebDriver:
    """A headless Chromium at 1920×1080 keeping its console log."""
    opts = webdriver.ChromeOptions()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},{HEIGHT}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver")
    service = Service(driver_path) if driver_path else Service()
    driver = webdriver.Chrome(options=opts, service=service)
    # The page's viewport is exactly a wall screen's, whatever the window's own chrome takes.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


def wait_for(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = cond()
            if got:
                return got
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


def page_ready(driver: WebDriver) -> bool:
    """The page's content is rendered: a heading in <main> and no Dash callback in flight."""
    ready = driver.execute_script(
        "const m = document.querySelector('main#page h1');"
        "const busy = document.querySelector('._dash-loading, ._dash-loading-callback');"
        "return !!m && !busy && document.readyState === 'complete';"
    )
    return bool(ready)


def open_page(driver: WebDriver, url: str, timeout: float = 30.0) -> float:
    """Load ``url`` and wait until its content is drawn; seconds it took."""
    started = time.monotonic()
    driver.get(url)
    wait_for(lambda: page_ready(driver), timeout, f"{url} to render")
    wait_for(lambda: graphs_drawn(driver), timeout, f"{url} graphs to draw")
    return time.monotonic() - started


def graphs_drawn(driver: WebDriver) -> bool:
    """Every Plotly graph on the page has drawn its plot."""
    count = len(driver.find_elements(By.CSS_SELECTOR, ".dash-graph"))
    drawn = len(driver.find_elements(By.CSS_SELECTOR, ".dash-graph .main-svg"))
    return drawn >= count


def severe_console(driver: WebDriver) -> list[str]:
    """Console messages at level SEVERE since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
