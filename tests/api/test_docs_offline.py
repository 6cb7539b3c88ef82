"""``/docs`` and ``/redoc`` render in real headless Chromium with every request off loopback
refused (issue 11, item 15): their assets ship in the package instead of coming from a CDN."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from forgeml.api.docs import STATIC
from tests.api.conftest import Served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def _offline_page(browser: object, served: Served) -> tuple[object, list[str]]:
    """A page whose every request to a host other than the server's is aborted and recorded."""
    context = browser.new_context(service_workers="block")  # type: ignore[attr-defined]
    refused: list[str] = []
    host = urlsplit(served.url).netloc

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == host:
            r.continue_()  # type: ignore[attr-defined]
        else:
            refused.append(url)
            r.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    return context.new_page(), refused


def test_assets_are_package_files() -> None:
    assert (STATIC / "swagger-ui" / "swagger-ui-bundle.js").stat().st_size > 500_000
    assert (STATIC / "redoc" / "redoc.standalone.js").stat().st_size > 500_000


def test_swagger_ui_lists_the_operations_offline(browser: object, empty_server: Served) -> None:
    """Every tag of the spec renders. Swagger UI 5 renders only the tag sections near the
    viewport (a virtualised list), so the page is scrolled to the bottom and the tags seen on the
    way are collected; counting the first screen alone shows only the first three tags."""
    import httpx

    spec = httpx.get(f"{empty_server.url}/openapi.json").json()
    tags = {t for ops in spec["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    page, refused = _offline_page(browser, empty_server)
    page.goto(f"{empty_server.url}/docs")  # type: ignore[attr-defined]
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # type: ignore[attr-defined]
    seen: set[str] = set()
    paths: set[str] = set()
    for _ in range(200):
        seen.update(t.strip() for t in page.locator(".opblock-tag").all_inner_texts())  # type: ignore[attr-defined]
        paths.update(p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts())  # type: ignore[attr-defined]
        at_bottom = page.evaluate("() => window.scrollY + window.innerHeight >= document.body.scrollHeight - 2")  # type: ignore[attr-defined]
        if at_bottom and tags <= seen:
            break
        page.evaluate("() => window.scrollBy(0, window.innerHeight / 2)")  # type: ignore[attr-defined]
        page.wait_for_timeout(50)  # type: ignore[attr-defined]
    assert tags <= seen, f"tags never rendered: {sorted(tags - seen)}"
    assert "/jobs" in paths
    page.evaluate("() => window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    assert page.locator(".info .title").inner_text().startswith("ForgeML")  # type: ignore[attr-defined]
    assert refused == []


def test_redoc_renders_offline(browser: object, empty_server: Served) -> None:
    page, refused = _offline_page(browser, empty_server)
    page.goto(f"{empty_server.url}/redoc")  # type: ignore[attr-defined]
    page.wait_for_selector("h1", timeout=30_000)  # type: ignore[attr-defined]
    assert page.locator("h1").first.inner_text().startswith("ForgeML")  # type: ignore[attr-defined]
    page.get_by_text("/datasets/{name}/upload").first.wait_for(state="attached", timeout=30_000)  # type: ignore[attr-defined]
    assert page.locator("[data-section-id^='tag/']").count() >= 10  # type: ignore[attr-defined]
    assert refused == []
