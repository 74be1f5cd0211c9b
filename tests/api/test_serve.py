"""``creditkit serve``'s settings: flags over environment over config file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditkit.api.serve import DEFAULT_DATABASE_URL, Settings, example_catalog
from creditkit.catalog import load_catalog
from creditkit.errors import InvalidRequest


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
