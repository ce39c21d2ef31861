"""The review page end to end in real headless Chromium (Debian's chromium + chromium-driver) against a real
BentoML server with an API token: login prompt, upload, capacity, the ranked rows, a filter, the CSV download
compared with /rank's own answer, and a broken row's error. Named to run last: it starts a server."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.marketing.test_page import upload_csvs
from tests.serving.session import Trained

pytestmark = pytest.mark.integration

TOKEN = "mkt-review-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def _browser(downloads: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def _wait(condition: Any, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the page")


def test_review_page_in_a_real_browser(
    trained: Trained, service_cls: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bentoml
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    leads_csv, events_csv = upload_csvs(trained, n=40, start=700)
    (tmp_path / "leads.csv").write_text(leads_csv)
    (tmp_path / "events.csv").write_text(events_csv)
    broken = pd.read_csv(tmp_path / "leads.csv", dtype=str)
    broken.loc[4, "decided_at"] = "soon"
    broken.to_csv(tmp_path / "broken.csv", index=False)
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    monkeypatch.setenv("LEADRANK_API_TOKENS", TOKEN)
    port = _free_port()
    server = bentoml.serve(service_cls, host="127.0.0.1", port=port)
    driver = _browser(downloads)
    try:
        with server, bentoml.SyncHTTPClient(server.url, server_ready_timeout=300) as client:
            assert client.is_ready()
            find = driver.find_element
            driver.get(f"{server.url}/ui")
            # No token: a login prompt, no data.
            _wait(lambda: find(By.ID, "login").is_displayed())
            assert not find(By.ID, "app").is_displayed()
            assert driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr") == []
            find(By.ID, "token").send_keys(TOKEN)
            find(By.ID, "login-btn").click()
            _wait(lambda: find(By.ID, "app").is_displayed())
            _wait(lambda: "version" in find(By.ID, "card-body").text)

            find(By.ID, "leads-file").send_keys(str(tmp_path / "leads.csv"))
            find(By.ID, "events-file").send_keys(str(tmp_path / "events.csv"))
            find(By.CSS_SELECTOR, "input[name=kind][value=max_leads]").click()
            value = find(By.ID, "capacity-value")
            value.clear()
            value.send_keys("6")
            find(By.ID, "rank-btn").click()
            _wait(lambda: find(By.ID, "result").is_displayed())
            rows = driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")
            assert len(rows) == 40
            assert len(driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr.sales_ready")) == 6
            assert "qualified' means" in find(By.ID, "statement").text
            first = rows[0].find_elements(By.TAG_NAME, "td")
            assert first[2].text == "sales_ready" and " pts)" in first[9].text
            shot = tmp_path / "review-page.png"
            driver.save_screenshot(str(shot))
            print(f"\nreview page screenshot: {shot}")

            stage = Select(find(By.ID, "f-stage"))
            stage.select_by_visible_text("sales_ready")
            _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")) == 6)
            stage.select_by_value("")
            _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")) == 40)

            find(By.ID, "download-csv").click()
            saved = _wait(lambda: next(iter(downloads.glob("ranked*.csv")), None))
            with saved.open(newline="") as f:
                downloaded = list(csv.DictReader(f))
            leads = _post(f"{server.url}/ui/leads", {"leads_csv": leads_csv, "events_csv": events_csv})["leads"]
            answer = _post(f"{server.url}/rank", {"leads": leads, "capacity": {"max_leads": 6}})
            assert [r["lead_id"] for r in downloaded] == [x["lead_id"] for x in answer["leads"]]
            for row, lead in zip(downloaded, answer["leads"], strict=True):
                assert row["stage"] == lead["stage"] and int(row["rank"]) == lead["rank"]
                assert float(row["p_close"]) == lead["p_close"]
                assert float(row["closes_per_hour"]) == lead["closes_per_hour"]
                assert row["assigned_to"] == (lead["assigned_to"] or "")

            find(By.ID, "leads-file").clear()
            find(By.ID, "leads-file").send_keys(str(tmp_path / "broken.csv"))
            find(By.ID, "events-file").clear()
            find(By.ID, "rank-btn").click()
            errors = _wait(lambda: find(By.ID, "errors").text)
            assert "leads.csv, column decided_at, row 5" in errors, errors
            assert not find(By.ID, "result").is_displayed() and "Traceback" not in driver.page_source
    finally:
        driver.quit()
