"""The web page in headless Chromium: classify, read the bars, send feedback, find it in SQLite."""

import os
import sqlite3

import pytest

from emotune.serving.api import ServerSettings
from tests.fixtures.serving import live_server

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (scripts/setup.sh --test)"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def test_classify_and_send_feedback(browser, tfidf_run, multi_run, tmp_path):
    db = tmp_path / "feedback.sqlite"
    with live_server([tfidf_run, multi_run], ServerSettings(feedback_db=db)) as srv:
        page = browser.new_page()
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(srv.url) else None)
        page.goto(srv.url + "/")
        page.wait_for_selector("#model option[value='toy-multi']", state="attached")
        assert page.locator("#model option").all_inner_texts()[0].startswith("toy-tfidf")

        page.select_option("#model", "toy-tfidf")
        page.fill("#text", "My dog died last week and I cried")
        page.click("#classify")
        page.wait_for_selector("#results .bar-row")
        rows = page.locator("#results .bar-row")
        assert rows.count() == 4
        assert rows.first.get_attribute("data-label") == "sadness"  # best first
        scores = [float(rows.nth(i).get_attribute("data-score")) for i in range(4)]
        assert abs(sum(scores) - 1) < 1e-3 and scores == sorted(scores, reverse=True)
        assert "sadness" in page.inner_text("#decision")
        assert "%" in rows.first.inner_text()

        # thumbs down + the right emotion, then send
        page.click("#thumbs-down")
        page.select_option("#correct", "fear")
        page.click("#send-feedback")
        page.wait_for_function("document.getElementById('feedback-status').textContent.includes('saved')")

        # another model from the selector
        page.select_option("#model", "toy-multi")
        page.fill("#text", "He lied to me again and I was furious")
        page.click("#classify")
        page.wait_for_function("document.querySelector('#results .bar-row.decided') !== null && "
                               "document.getElementById('decision').textContent.includes('anger')")
        page.click("#thumbs-up")
        page.wait_for_function("document.getElementById('feedback-status').textContent.includes('#2')")
        page.close()
        assert external == []  # the page fetched nothing from outside

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT model_id, text, verdict, correct_label, predicted FROM feedback "
                            "ORDER BY id").fetchall()
    assert rows[0][:4] == ("toy-tfidf", "My dog died last week and I cried", "down", "fear")
    assert '"sadness"' in rows[0][4]
    assert rows[1][:4] == ("toy-multi", "He lied to me again and I was furious", "up", None)


def test_the_api_key_stays_in_the_tab(browser, tfidf_run):
    """The key typed into the page is kept in sessionStorage (gone with the tab), never localStorage."""
    with live_server([tfidf_run], ServerSettings(api_key="s3cret")) as srv:
        page = browser.new_page()
        page.goto(srv.url + "/")
        page.evaluate("localStorage.setItem('emotune-api-key', 'left-by-an-earlier-release')")
        page.reload()
        page.wait_for_selector("#key-row:not(.hidden)")  # 401: the page asks for the key
        assert page.evaluate("localStorage.getItem('emotune-api-key')") is None
        page.fill("#api-key", "s3cret")
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#model option[value='toy-tfidf']", state="attached")
        assert page.evaluate("sessionStorage.getItem('emotune-api-key')") == "s3cret"
        assert page.evaluate("localStorage.getItem('emotune-api-key')") is None
        page.close()
