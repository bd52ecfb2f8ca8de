"""The playground page: served by the app, and driven in headless Chromium (Debian's) against the real server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
QUERY = "vitamin D deficiency and cancer risk"


async def test_page_is_served(client: httpx.AsyncClient) -> None:
    resp = await client.get("/playground")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    for element in ('id="collection"', 'id="retriever"', 'id="query"', 'id="dims"', 'id="timings"'):
        assert element in resp.text
    assert "/playground" not in (await client.get("/openapi.json")).json()["paths"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not installed: `make setup` installs it (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server}/playground")
    page.wait_for_selector("#collection option[value='sf']", state="attached")
    yield page
    page.close()


def _search(page: Page, retriever: str, dims: str = "") -> dict[str, object]:
    """Fill the form, submit, wait for the server's answer; returns the request body the page sent."""
    page.select_option("#collection", "sf")
    page.select_option("#retriever", retriever)
    page.fill("#k", "5")
    page.fill("#dims", dims)
    page.fill("#query", QUERY)
    with page.expect_response("**/v1/search") as answer:
        page.click("#search")
    page.wait_for_function("!document.getElementById('search').disabled")
    return json.loads(answer.value.request.post_data or "{}")


def test_search_shows_real_hits_scores_and_timings(page: Page, live_server: str, tmp_path: Path) -> None:
    sent = _search(page, "hybrid")
    assert sent == {"collection": "sf", "query": QUERY, "k": 5, "retriever": "hybrid"}  # no dims unless set
    expected = httpx.post(f"{live_server}/v1/search", json=sent, timeout=60).json()["hits"]
    hits = page.locator("li.hit")
    assert hits.count() == 5
    assert [hits.nth(i).get_attribute("data-id") for i in range(5)] == [h["id"] for h in expected]
    assert hits.first.locator(".title").inner_text() == expected[0]["title"]
    assert hits.first.locator(".score").inner_text() == f"{expected[0]['score']:.4f}"
    chips = hits.first.locator(".stage-score").all_inner_texts()
    assert any(c.startswith("sparse ") for c in chips) and any(c.startswith("dense ") for c in chips)
    stages = page.locator("#timings td:first-child").all_inner_texts()
    assert {"sparse", "dense.encode", "fusion", "total"} <= set(stages)
    assert page.locator("#error").is_hidden() and page.locator("#degraded").is_hidden()
    assert "5 hits from sf (hybrid)" in page.inner_text("#status")
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_dims_are_sent_only_when_set(page: Page) -> None:
    options = page.locator("#dims-options option").all_inner_texts()
    assert {"32", "64", "128"} <= set(options)  # the fixture's dense index lists its Matryoshka prefixes
    sent = _search(page, "dense", dims="128")
    assert sent["dimensions"] == 128
    assert page.locator("li.hit").count() == 5 and page.locator("#error").is_hidden()


def test_degraded_stages_are_shown(page: Page) -> None:
    # No stage of this server degrades on demand yet, so the real answer gets a ``degraded`` list added in flight.
    def add_degraded(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "degraded": ["dense"]})

    page.route("**/v1/search", add_degraded)
    _search(page, "sparse")
    assert page.locator("li.hit").count() == 5
    assert page.inner_text("#degraded") == "degraded stages: dense"


def test_server_errors_are_shown(page: Page) -> None:
    page.fill("#query", "cancer " * 800)  # over the API's 4096-character limit: the server answers 422
    with page.expect_response("**/v1/search") as answer:
        page.click("#search")
    assert answer.value.status == 422
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error").startswith("InvalidInput: query")
