"""The web page in headless Chromium: classify, read the bars, send feedback, find it in SQLite."""

import csv
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


def _has_explain(srv) -> bool:
    return any(getattr(r, "path", None) == "/v1/explain" for r in srv.app.routes)


def test_compare_mode_shows_every_model(browser, tfidf_run, multi_run):
    with live_server([tfidf_run, multi_run]) as srv:
        page = browser.new_page()
        page.goto(srv.url + "/")
        page.wait_for_selector("#model option[value='toy-multi']", state="attached")
        page.fill("#text", "My dog died last week and I cried")
        page.check("#compare")
        page.click("#classify")
        page.wait_for_selector("#compare-results .model-col[data-model='toy-multi'] .bar-row")
        cols = page.locator("#compare-results .model-col")
        assert [cols.nth(i).get_attribute("data-model") for i in range(cols.count())] == ["toy-tfidf", "toy-multi"]
        for i in range(2):
            assert cols.nth(i).locator(".bar-row").count() == 4
            assert cols.nth(i).get_attribute("data-top") == "sadness"
        assert "sadness" in cols.nth(0).locator(".model-decision").inner_text()
        assert page.is_hidden("#result-card") and page.is_hidden("#feedback-card")
        if not _has_explain(srv):
            assert page.is_hidden("#compare-why")
        # back to one model: the single view again
        page.uncheck("#compare")
        page.wait_for_selector("#result-card:not(.hidden) #results .bar-row")
        assert page.is_hidden("#compare-card")
        page.close()


def test_why_shading_single_and_compare(browser, tfidf_run, multi_run):
    with live_server([tfidf_run, multi_run]) as srv:
        page = browser.new_page()
        page.goto(srv.url + "/")
        page.wait_for_selector("#model option[value='toy-multi']", state="attached")
        page.fill("#text", "My dog died last week and I cried")
        page.click("#classify")
        page.wait_for_selector("#results .bar-row")
        if not _has_explain(srv):  # a server without POST /v1/explain: the page hides the why view
            assert page.is_hidden("#why") and page.is_hidden("#why-hint")
            page.close()
            pytest.skip("this server has no POST /v1/explain (emotune.explain not merged)")
        page.click("#why")
        page.wait_for_selector("#why-view .why-word")
        words = page.locator("#why-view .why-word")
        assert page.get_attribute("#why-view .why-text", "data-label") == "sadness"
        assert page.inner_text("#why-view .why-text") == "My dog died last week and I cried"
        scores = {words.nth(i).inner_text(): float(words.nth(i).get_attribute("data-score"))
                  for i in range(words.count())}
        assert max(scores, key=scores.get) in ("died", "cried")
        assert "rgba" in words.nth(2).evaluate("e => e.style.backgroundColor || getComputedStyle(e).backgroundColor")
        # click another emotion's bar: why (not) that one
        page.click("#results .bar-row[data-label='joy']")
        page.wait_for_selector("#why-view .why-text[data-label='joy']")
        assert page.get_attribute("#results .bar-row.explained", "data-label") == "joy"

        page.check("#compare")
        page.wait_for_selector("#compare-results .model-col[data-model='toy-multi'] .bar-row")
        page.click("#compare-why")
        page.wait_for_selector("#compare-results .model-col[data-model='toy-multi'] .why-word")
        for model in ("toy-tfidf", "toy-multi"):
            col = page.locator(f"#compare-results .model-col[data-model='{model}']")
            assert col.locator(".why-word").count() == 8
        page.close()


def test_upload_a_file_and_download_it_labelled(browser, tfidf_run, tmp_path):
    src = tmp_path / "reviews.csv"
    src.write_text("id,text\n1,My dog died last week and I cried\n2,I won the lottery and I am so happy\n"
                   "3,He lied to me again and I was furious\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,fine\n2,too,many\n", encoding="utf-8")
    with live_server([tfidf_run], ServerSettings(max_upload_bytes=4096)) as srv:
        page = browser.new_page()
        page.goto(srv.url + "/")
        page.wait_for_selector("#model option[value='toy-tfidf']", state="attached")
        assert page.inner_text("#upload-limit") == "4 KB"

        page.set_input_files("#upload-file", str(bad))
        page.click("#upload-go")
        page.wait_for_selector("#upload-status.error")
        assert "bad.csv" in page.inner_text("#upload-status") and "line 3" in page.inner_text("#upload-status")

        page.set_input_files("#upload-file", str(src))
        page.click("#upload-go")
        page.wait_for_selector("#upload-download:not(.hidden)")
        assert "3 of 3 rows labelled" in page.inner_text("#upload-status")
        assert page.evaluate("document.getElementById('upload-progress').value") == 1
        with page.expect_download() as info:
            page.click("#upload-download")
        download = info.value
        assert download.suggested_filename == "reviews.labelled.csv"
        rows = list(csv.DictReader(open(download.path(), encoding="utf-8")))
        assert [r["id"] for r in rows] == ["1", "2", "3"]
        assert [r["predicted"] for r in rows] == ["sadness", "joy", "anger"]
        page.close()
