"""/docs (Swagger UI) and /redoc (ReDoc) work with no network: their pages reference only
creditkit's own URLs, and every script, style and icon they load is served by creditkit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit
from creditkit.server import create_app

#: Where a page names another resource: src, href, Swagger UI's url and ReDoc's spec-url.
REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|\burl: *'([^']+)'""")


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database: Path = tmp_path_factory.mktemp("docs") / "docs.db"
    kit = CreditKit(f"sqlite:///{database}")
    with TestClient(create_app(kit)) as client:
        yield client
    kit.close()


@pytest.mark.parametrize(("page", "scripts"), [("/docs", 1), ("/redoc", 1)])
def test_the_page_loads_only_local_assets(http: TestClient, page: str, scripts: int) -> None:
    answer = http.get(page)
    assert answer.status_code == 200
    assert "http://" not in answer.text and "https://" not in answer.text, page
    references = [found[0] or found[1] for found in REFERENCE.findall(answer.text)]
    assert "/openapi.json" in references
    assert len([ref for ref in references if ref.endswith(".js")]) == scripts
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = http.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 0, reference
