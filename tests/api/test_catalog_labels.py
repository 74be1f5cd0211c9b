"""Feature and limit labels: the catalog names them for customers (``features:`` and
``limits:``, each id with its ``label``); ``GET /v1/catalog`` gives every feature and limit the
plans use under ``labels``, the id humanised where the catalog has no label; the billing page
shows the same names."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit
from creditkit.catalog import load_catalog
from creditkit.catalog.errors import CatalogError
from creditkit.server.app import create_app

CATALOG = """\
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    features: [ask_anything]
    limits:
      users: {count: 1}
  growth:
    name: Growth
    rank: 1
    prices: {month: {amount: 240000, currency: USD}}
    features: [ask_anything, icp_builder, ai_gap_analysis]
    limits:
      users: {count: 5}
      scheduled_posts: {per_period: 100, period: month}
features:
  icp_builder: {label: ICP builder}
  ai_gap_analysis: {label: AI gap analysis}
limits:
  users: {label: Team members}
"""


def test_the_listing_names_every_feature_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    kit = CreditKit(f"sqlite:///{tmp_path / 'labels.db'}", catalog=str(path))
    with TestClient(create_app(kit)) as client:
        labels = client.get("/v1/catalog").json()["labels"]
    kit.close()
    assert labels == {
        "features": {
            "ask_anything": "Ask anything",  # no label: the id humanised
            "icp_builder": "ICP builder",
            "ai_gap_analysis": "AI gap analysis",
        },
        "limits": {"users": "Team members", "scheduled_posts": "Scheduled posts"},
    }


def test_a_label_is_required_text(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.replace("{label: ICP builder}", "{name: ICP builder}"))
    with pytest.raises(CatalogError) as raised:
        load_catalog(str(path))
    assert "label" in str(raised.value)
