"""``creditkit serve``'s settings: flags over environment over config file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditkit.catalog import load_catalog
from creditkit.errors import InvalidRequest
from creditkit.server.serve import DEFAULT_DATABASE_URL, Settings, example_catalog, open_kit


def test_no_arguments_mean_sqlite_here_and_the_bundled_catalog() -> None:
    settings = Settings.resolve({"port": None}, {}, None)
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///creditkit.db"
    assert settings.port == 8000
    assert settings.catalog_path() == example_catalog()
    assert load_catalog(example_catalog()).default_plan.id == "free"


def test_flags_beat_the_environment_which_beats_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "creditkit.toml"
    config.write_text('database_url = "sqlite:///from-file.db"\nport = 9000\nworkers = 2\n')
    environment = {"CREDITKIT_PORT": "9100", "CREDITKIT_DATABASE_URL": "postgresql://x/y"}
    settings = Settings.resolve({"port": 9200}, environment, str(config))
    assert (settings.database_url, settings.port, settings.workers) == ("postgresql://x/y", 9200, 2)
    assert Settings.resolve({}, settings.environment(), None) == settings


@pytest.mark.parametrize(
    ("text", "field"),
    [("port = 0\n", "port"), ('port = "x"\n', "port"), ("colour = 1\n", "colour"), ("[", "config")],
)
def test_a_bad_setting_names_its_field(tmp_path: Path, text: str, field: str) -> None:
    config = tmp_path / "creditkit.toml"
    config.write_text(text)
    with pytest.raises(InvalidRequest) as raised:
        Settings.resolve({}, {}, str(config))
    assert raised.value.field == field


def test_the_sandbox_checkout_opens_on_the_served_checkout_page(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'served.db'}"
    for flags, address in (
        ({"port": 9300}, "http://127.0.0.1:9300"),
        ({"public_url": "https://billing.example.com/"}, "https://billing.example.com"),
    ):
        settings = Settings.resolve(
            {
                "database_url": database_url,
                "payments": "sandbox",
                "return_origins": "https://app.test",
                **flags,
            },
            {},
            None,
        )
        with open_kit(settings) as kit:
            kit.create_customer("alice")
            session = kit.checkout(
                "alice",
                pack="credits_500",
                success_url="https://app.test/paid",
                cancel_url="https://app.test/cancel",
                idempotency_key=f"k-{address}",
            )
        assert session.url == f"{address}/checkout/sandbox/{session.session_id}"


def test_a_public_url_is_an_http_address() -> None:
    with pytest.raises(InvalidRequest) as raised:
        Settings.resolve({"public_url": "billing.example.com"}, {}, None)
    assert raised.value.field == "public_url"


def test_the_late_usage_and_reversal_windows_are_settings(tmp_path: Path) -> None:
    environment = {
        "CREDITKIT_LATE_USAGE_WINDOW_SECONDS": "86400",
        "CREDITKIT_REVERSAL_WINDOW_SECONDS": "3600",
    }
    settings = Settings.resolve({}, environment, None)
    assert (settings.late_usage_window_seconds, settings.reversal_window_seconds) == (86400, 3600)
    for name, seconds in (
        ("late_usage_window_seconds", 36 * 86400),
        ("reversal_window_seconds", 0),
    ):
        config = tmp_path / f"{name}.toml"
        config.write_text(f"{name} = {seconds}\n")
        with pytest.raises(InvalidRequest) as raised:
            Settings.resolve({}, {}, str(config))
        assert raised.value.field == name
