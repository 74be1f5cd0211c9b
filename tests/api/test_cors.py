"""``creditkit serve --cors-origin``: pages of the configured origins may call the API from the
browser with a customer's session token; every other origin gets no CORS headers (its browser
then refuses the answer), and credentials (cookies) are never allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_two_processes import server

from creditkit.cli.parser import build_parser
from creditkit.errors import InvalidRequest
from creditkit.server.serve import Settings

APP = "https://app.example"
LOCAL = "http://localhost:3000"


def test_the_flag_repeats_and_beats_the_environment_which_beats_the_config_file(
    tmp_path: Path,
) -> None:
    arguments = build_parser().parse_args(
        ["serve", "--cors-origin", APP, "--cors-origin", LOCAL, "--payments", "sandbox"]
    )
    assert arguments.cors_origins == [APP, LOCAL]
    config = tmp_path / "creditkit.toml"
    config.write_text(f'cors_origins = ["{APP}"]\n')
    assert Settings.resolve({}, {}, str(config)).cors_origins == (APP,)
    environment = {"CREDITKIT_CORS_ORIGINS": f"{LOCAL}, https://other.example"}
    from_environment = Settings.resolve({}, environment, str(config))
    assert from_environment.cors_origins == (LOCAL, "https://other.example")
    flagged = Settings.resolve({"cors_origins": arguments.cors_origins}, environment, str(config))
    assert flagged.cors_origins == (APP, LOCAL)
    # Worker processes read the settings back from the environment.
    assert Settings.resolve({}, flagged.environment(), None) == flagged
    assert Settings.resolve({}, {}, None).cors_origins == ()


@pytest.mark.parametrize(
    "origin", ["*", "https://app.example/", "https://app.example/billing", "app.example", "ftp://x"]
)
def test_anything_but_an_origin_is_refused_naming_the_field(origin: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        Settings.resolve({"cors_origins": [origin]}, {}, None)
    assert raised.value.field == "cors_origins"


def test_a_bad_origin_stops_serve_with_one_line() -> None:
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "creditkit.cli", "serve", "--payments", "sandbox"),
            *("--cors-origin", "https://app.example/*"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    assert finished.stderr.startswith("creditkit: cors_origins: ")
    assert len(finished.stderr.strip().splitlines()) == 1


def test_a_served_creditkit_answers_cors_for_its_origins_only(
    tmp_path: Path, database_url: str
) -> None:
    """On either database (CORS is the HTTP layer's, but serve is run as shipped)."""
    settings = {"CREDITKIT_PAYMENTS": "sandbox", "CREDITKIT_CORS_ORIGINS": f"{APP},{LOCAL}"}
    with server(database_url, tmp_path / "serve.log", payments=settings) as url:
        for origin in (APP, LOCAL):
            preflight = httpx.options(
                f"{url}/v1/customers/alice/balance",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
            assert "access-control-allow-credentials" not in preflight.headers
            answer = httpx.get(f"{url}/v1/catalog", headers={"Origin": origin})
            assert answer.headers["access-control-allow-origin"] == origin
        stranger = "https://evil.example"
        refused = httpx.options(
            f"{url}/v1/customers/alice/balance",
            headers={"Origin": stranger, "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in refused.headers
        answer = httpx.get(f"{url}/v1/catalog", headers={"Origin": stranger})
        assert "access-control-allow-origin" not in answer.headers


def test_without_origins_no_page_of_another_origin_may_call(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'closed.db'}"
    with server(database_url, tmp_path / "serve.log") as url:
        answer = httpx.get(f"{url}/v1/catalog", headers={"Origin": APP})
        assert "access-control-allow-origin" not in answer.headers
