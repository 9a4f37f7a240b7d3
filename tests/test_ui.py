"""The web UI end to end: a real uvicorn server, Debian's headless Chromium
driven by Selenium through chromedriver, a real store and labels file.

An analyst logs in, opens the top alert of the queue, confirms fraud, sees
the case close and its labels sent; a compliance officer then reads the
case's audit trail. Screenshots of each step go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests import apikit
from tests.apikit import Deployment

deployment = apikit.deployment

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (make services installs them)",
)


@pytest.fixture
def server(deployment: Deployment) -> Iterator[str]:
    with apikit.serving(deployment.desk) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _shot(driver: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def _wait_for(driver: object, element_id: str) -> object:
    """The element once the page that has it has loaded (a form post redirects first)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )


def _log_in(driver: object, server: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{server}/ui/")  # type: ignore[attr-defined]
    assert "/ui/login" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element(By.ID, "token").send_keys(token)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "login").click()  # type: ignore[attr-defined]
    _wait_for(driver, "queue")


def test_an_analyst_confirms_fraud_on_the_top_alert(
    server: str, browser: object, deployment: Deployment
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _log_in(driver, server, deployment.tokens["ana"])
    rows = driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr")  # type: ignore[attr-defined]
    assert [r.get_attribute("data-case") is not None for r in rows] == [True, True, True]
    assert "C2" in rows[0].text  # the riskiest case leads
    _shot(driver, "1-queue")

    rows[0].find_element(By.CSS_SELECTOR, "a.top-alert").click()
    _wait_for(driver, "history")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Alert AL2"  # type: ignore[attr-defined]
    page = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert "velocity.cash_burst" in page and "v3" in page  # the rule and its version
    assert "amount_z (+2.4)" in page  # the model's top feature
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")  # type: ignore[attr-defined]
    assert "T3" in driver.find_element(By.ID, "history").text  # type: ignore[attr-defined]
    _shot(driver, "2-alert")

    driver.find_element(By.ID, "act-confirm-fraud").click()  # type: ignore[attr-defined]

    message = _wait_for(driver, "message").text
    assert "closed as confirmed_fraud; 2 label(s) sent" in message
    assert driver.find_element(By.ID, "case-status").text == "closed"  # type: ignore[attr-defined]
    cells = driver.find_elements(By.CSS_SELECTOR, "#labels td.label-value")  # type: ignore[attr-defined]
    states = driver.find_elements(By.CSS_SELECTOR, "#labels td.label-state")  # type: ignore[attr-defined]
    assert [c.text for c in cells] == ["fraud", "fraud"]
    assert all(s.text.startswith("sent ") for s in states)
    _shot(driver, "3-confirmed")
    emitted = [orjson.loads(x) for x in deployment.labels_file.read_bytes().splitlines()]
    assert sorted((x["txn_id"], x["label"], x["source"]) for x in emitted) == [
        ("T2", "fraud", "analyst"),
        ("T3", "fraud", "analyst"),
    ]

    driver.get(f"{server}/ui/")  # type: ignore[attr-defined]
    open_cases = driver.find_element(By.ID, "queue").text  # type: ignore[attr-defined]
    assert "C2" not in open_cases  # the case moved out of the open queue
    driver.get(f"{server}/ui/?status=closed")  # type: ignore[attr-defined]
    assert "confirmed_fraud" in driver.find_element(By.ID, "queue").text  # type: ignore[attr-defined]
    _shot(driver, "4-closed-queue")


def test_compliance_sees_the_audit_trail_and_analysts_do_not(
    server: str, browser: object, deployment: Deployment
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    case_id = next(
        c["case_id"]
        for c in deployment.desk.casefile.queue(apikit.QueueQuery())
        if c["customer_id"] == "C1"
    )
    deployment.desk.actions.assign(case_id, "ana", actor="ana")
    deployment.desk.actions.comment(case_id, "asked for receipts", actor="ana")

    _log_in(driver, server, deployment.tokens["cora"])
    driver.get(f"{server}/ui/cases/{case_id}")  # type: ignore[attr-defined]

    trail = driver.find_element(By.ID, "audit").text  # type: ignore[attr-defined]
    assert "case_opened" in trail and "assign" in trail and "comment" in trail
    assert "asked for receipts" in driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    _shot(driver, "5-compliance-case")
    driver.delete_all_cookies()  # type: ignore[attr-defined]
    _log_in(driver, server, deployment.tokens["ana"])
    driver.get(f"{server}/ui/cases/{case_id}")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.ID, "audit")  # type: ignore[attr-defined]
