"""The dashboards in a real headless Chromium against a `tailsight up` filled by the simulator.

One filled server (``every_kind_up`` of tests/conftest.py: the every-kind scenario,
analysed, shared with tests/analysis/test_e2e_sim.py), one browser for the module. Every
page must render without console errors; the injected faults' culprits must show where
an on-call engineer looks for them; the range picker must change what is shown. Each
page is also saved as a 1920×1080 screenshot, into ``$SCREENSHOTS_DIR`` when set
(``make screenshots`` sets it to docs/screenshots) or the test's temporary folder.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tailsight.sim.demo import demo_slos
from tests.conftest import UpProcess
from tests.dashboards.browser import HEIGHT, WIDTH, chromium, open_page, severe_console, wait_for
from tests.simfill import WARMUP_S

# The first test to ask fills a `tailsight up` (every_kind_up); the timeout, a bound on a
# hang, covers that fill with the suite's other workers sharing the CPUs.
pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _range(info: dict[str, Any]) -> str:
    return f"?from={_iso(info['start'])}&to={_iso(info['end'])}"


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _incident(info: dict[str, Any], kind: str) -> dict[str, Any]:
    """The incident whose top cause names the culprit of the fault of ``kind``."""
    want = info["faults"][kind]["culprit"]
    for inc in info["incidents"]:
        if inc["causes"] and inc["causes"][0]["entity"] == want:
            return dict(inc)
    raise AssertionError(f"analysis found no incident blaming {want}: {info['incidents']}")


def _text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _show(driver: WebDriver, url: str, shots: Path, name: str) -> None:
    open_page(driver, url)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(shots / f"{name}.png"))
    assert severe_console(driver) == [], f"console errors on {url}"


def test_every_page_renders_without_console_errors(
    every_kind_up: tuple[UpProcess, dict[str, Any]], browser: WebDriver, shots: Path
) -> None:
    up, info = every_kind_up
    query = _range(info)
    congestion = _incident(info, "port_congestion")
    pages = {
        "fleet": "/",
        "service": f"/services/{congestion['service']}",
        "incident": f"/incidents/{congestion['id']}",
        "gpus": "/gpus",
        "fabric": "/fabric",
        "slos": "/slos",
        "slo": "/slos/llm-gateway-latency",
    }
    severe_console(browser)  # drop what an earlier page left
    for name, path in pages.items():
        _show(browser, up.api + path + query, shots, name)
        heading = _text(browser, "main h1")
        assert heading and "Cannot show" not in heading, f"{path}: {_text(browser, 'main')}"
        viewport = browser.execute_script("return [window.innerWidth, window.innerHeight]")
        assert viewport == [WIDTH, HEIGHT]
    _show(browser, up.api + "/slos" + query, shots, "slos")
    table = _text(browser, "#slo-table")
    for slo in demo_slos():
        assert slo["metadata"]["name"] in table


def test_fleet_lists_the_culprits_and_links_to_the_incident(
    every_kind_up: tuple[UpProcess, dict[str, Any]], browser: WebDriver
) -> None:
    up, info = every_kind_up
    open_page(browser, up.api + "/" + _range(info))
    incidents = _text(browser, "#incidents-table")
    for kind in ("port_congestion", "gpu_noisy_neighbor", "load_surge"):
        assert info["faults"][kind]["culprit"]["id"] in incidents, kind
    assert "leaf" in _text(browser, "#worst-ports")
    # From the fleet page to the port congestion incident, as an engineer clicks through.
    congestion = _incident(info, "port_congestion")
    port = congestion["causes"][0]["entity"]["id"]
    row = browser.find_element(
        By.XPATH, f"//table[@id='incidents-table']//tr[td[contains(., '{port}')]][1]"
    )
    row.find_element(By.CSS_SELECTOR, "a.incident-link").click()
    wait_for(lambda: "/incidents/" in browser.current_url, what="navigation to the incident")
    wait_for(lambda: "Incident" in _text(browser, "main h1"), what="the incident page")
    incident_id = browser.current_url.split("/incidents/")[1].split("?")[0]
    assert incident_id in {i["id"] for i in info["incidents"]}
    assert "from=" in browser.current_url, "the range is kept across navigation"
    assert port in _text(browser, "main")


def test_incident_page_charts_the_evidence_on_the_culprit(
    every_kind_up: tuple[UpProcess, dict[str, Any]], browser: WebDriver
) -> None:
    up, info = every_kind_up
    congestion = _incident(info, "port_congestion")
    port = congestion["causes"][0]["entity"]["id"]
    # The URL an alert links to: the incident page, no range given.
    open_page(browser, up.api + f"/incidents/{congestion['id']}")
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "section.panel h2")]
    evidence = [t for t in titles if t.startswith("tailsight.switch.port") and t.endswith(port)]
    assert evidence, titles
    assert browser.find_elements(By.CSS_SELECTOR, "#evidence-0 .main-svg .scatterlayer .trace")
    assert "slow" in _text(browser, "main")  # blast radius counted
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#span-tree-graph .bars path"),
        what="the slow trace's span tree",
    )


def test_gpu_page_names_the_neighbor_and_fabric_the_port(
    every_kind_up: tuple[UpProcess, dict[str, Any]], browser: WebDriver
) -> None:
    up, info = every_kind_up
    query = _range(info)
    neighbor = info["faults"]["gpu_noisy_neighbor"]["culprit"]["id"]  # host/pid
    open_page(browser, up.api + "/gpus" + query)
    assert neighbor in _text(browser, "#shared-gpus")
    port = info["faults"]["port_congestion"]["culprit"]["id"]
    open_page(browser, up.api + "/fabric" + query)
    first = browser.find_element(By.CSS_SELECTOR, "#links-table tbody tr").text
    assert port in first, f"the congested port is not the first link: {first}"
    hot = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#links-table .hot")]
    assert port in hot


def test_range_picker_changes_what_is_shown(
    every_kind_up: tuple[UpProcess, dict[str, Any]], browser: WebDriver
) -> None:
    up, info = every_kind_up
    open_page(browser, up.api + "/" + _range(info))
    before = len(browser.find_elements(By.CSS_SELECTOR, "#incidents-table tbody tr"))
    assert before >= 5
    # Only the warm-up, before the first fault: no incident in it.
    first_fault = info["start"] + WARMUP_S
    box = browser.find_element(By.ID, "range-to")
    box.clear()
    box.send_keys(_iso(first_fault - 60), Keys.ENTER)
    wanted = urlencode({"to": _iso(first_fault - 60)})
    wait_for(lambda: wanted in browser.current_url, what="the URL to take the range")
    wait_for(
        lambda: "no incidents in this range" in _text(browser, "main"),
        what="the fleet page to show the shorter range",
    )
    # A preset applies too: the last 15 minutes hold no simulated data at all.
    browser.find_element(By.CSS_SELECTOR, "#preset").click()
    option = wait_for(
        lambda: browser.find_elements(By.XPATH, "//*[normalize-space(text())='last 15m']"),
        what="the preset's options",
    )
    option[-1].click()  # type: ignore[index]
    wait_for(lambda: "from=15m" in browser.current_url, what="the preset in the URL")
    wait_for(
        lambda: "no requests stored in this range" in _text(browser, "main"),
        what="the page for the last 15 minutes",
    )
    assert severe_console(browser) == []


def test_with_a_token_the_ui_shows_nothing_until_it_is_given(
    tmp_path: Path, browser: WebDriver
) -> None:
    up = UpProcess(tmp_path / "data", "--token", "s3cret")
    try:
        up.wait_healthy(60)
        for path in ("/", "/gpus", "/_dash-layout", "/_dash-dependencies"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(up.api + path, timeout=10)
            assert err.value.code == 401, path
            assert b"Fleet" not in err.value.read()
        req = urllib.request.Request(
            up.api + "/_dash-update-component",
            b'{"output":"page.children","inputs":[]}',
            {"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        with urllib.request.urlopen(
            urllib.request.Request(up.api + "/gpus", headers={"Authorization": "Bearer s3cret"})
        ) as resp:
            assert resp.status == 200
        browser.delete_all_cookies()
        browser.get(up.api + "/gpus")
        box = browser.find_element(By.NAME, "token")
        box.send_keys("wrong", Keys.ENTER)
        wait_for(lambda: "not the token" in browser.page_source, what="the refusal")
        browser.find_element(By.NAME, "token").send_keys("s3cret", Keys.ENTER)
        wait_for(lambda: _text(browser, "main h1") == "GPUs", what="the GPU page after the token")
        assert browser.current_url.endswith("/gpus")
    finally:
        browser.delete_all_cookies()
        up.stop()
