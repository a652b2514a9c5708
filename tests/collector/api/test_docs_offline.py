"""``/docs`` and ``/redoc`` work on an offline intranet (issue 14): their pages name only
same-origin URLs, and the collector itself serves every script, style and icon they name."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from jishi.collector.service import start_collector

from support.ledger import make_config

pytestmark = pytest.mark.integration

# src="...", href="...", url(...) and the JavaScript string of the OpenAPI document's URL.
URL = re.compile(
    r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\(\s*['"]?([^'")]+)|url:\s*'([^']+)'"""
)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    config = make_config(tmp_path_factory.mktemp("docs"))
    collector = start_collector(config, admin_token="adm1n", ingest=False)
    try:
        with httpx.Client(base_url=collector.api_url or "", timeout=30) as client:
            yield client
    finally:
        collector.stop()


def referenced_urls(html: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in URL.finditer(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_page_names_only_same_origin_urls_and_each_is_served(http: httpx.Client, page: str) -> None:
    response = http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = referenced_urls(response.text)
    assert any(u.endswith(".js") for u in urls), urls  # the page does load its UI script
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url}"
        assert "cdn" not in url and "googleapis" not in url
        served = http.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 100, url
    assert "cdn.jsdelivr" not in response.text and "fonts.googleapis" not in response.text


def test_assets_have_the_right_types_and_the_document_they_show_loads(
    http: httpx.Client,
) -> None:
    js = http.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}
    assert http.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert http.get("/docs-assets/redoc.standalone.js").status_code == 200
    assert http.get("/docs-assets/missing.js").status_code == 404
    document = http.get("/openapi.json").json()
    assert "/docs" not in document["paths"] and "/redoc" not in document["paths"]
    assert any(path.startswith("/api/v1/") for path in document["paths"])


def test_assets_folder_is_the_pinned_package() -> None:
    from jishi.collector.api.docs_pages import assets_dir

    names = {p.name for p in assets_dir().iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"} <= names
