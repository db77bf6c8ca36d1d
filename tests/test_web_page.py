"""The web page at `/`, in a real headless Chromium (Debian's `chromium` + `chromium-driver`).

`.ci/run` installs both when they are missing, so this runs on a fresh machine.
"""

from __future__ import annotations

import re

import shutil
from pathlib import Path

import pytest

from serving import Server, build_index, start_server

pytestmark = pytest.mark.slow

KEY = "page-test-key"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("page")
    work, env = build_index(base)
    server = start_server(work, env, "--llm", "extractive", "--models", "extractive,fake", "--quiet", key=KEY)
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are not installed: apt-get install -y chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_page_streams_an_answer_lists_sources_and_opens_a_passage(server: Server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"{server.url}/")
    # The server needs a key: the page says so until it is given one.
    wait.until(lambda d: "API key" in d.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "api-key").send_keys(KEY)
    browser.find_element(By.ID, "question").click()  # leaving the key field fires `change`
    wait.until(lambda d: len(Select(d.find_element(By.ID, "model")).options) == 2)
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.text == "extractive"

    browser.find_element(By.ID, "question").send_keys("How long is the warranty on an aluminium frame?")
    browser.find_element(By.ID, "ask").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sources .source"))
    answer = browser.find_element(By.ID, "answer").text
    assert "10 years" in answer and re.search(r"\[\d\]", answer)  # cited, whichever passage supports it
    import httpx

    same = httpx.post(f"{server.url}/query", json={"question": "How long is the warranty on an aluminium frame?"},
                      headers=server.headers(), timeout=60).json()
    assert re.findall(r"\[\d+\]", answer) == re.findall(r"\[\d+\]", same["cited_answer"])  # one citation truth
    sources = browser.find_elements(By.CSS_SELECTOR, "#sources .source")
    first = sources[0].text
    assert first.startswith("[1] ") and "warranty.md:" in first  # file and line span
    assert not browser.find_element(By.ID, "passage").is_displayed()
    sources[0].click()
    passage = wait.until(EC.visibility_of_element_located((By.ID, "passage")))
    assert "10 years" in passage.text
    assert "warranty.md" in browser.find_element(By.ID, "passage-title").text

    # A follow-up goes with the conversation; the fake backend echoes the condensed question.
    Select(browser.find_element(By.ID, "model")).select_by_visible_text("fake")
    question = browser.find_element(By.ID, "question")
    question.clear()
    question.send_keys("and carbon ones?")
    browser.find_element(By.ID, "ask").click()
    wait.until(lambda d: "Fake answer" in d.find_element(By.ID, "answer").text and d.find_elements(By.CSS_SELECTOR, "#sources .source"))
    assert "warranty" in browser.find_element(By.ID, "answer").text
    # No script errors (the 401 before the key was given is a network entry, expected).
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert errors == [], errors
