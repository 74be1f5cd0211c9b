"""The ``events`` setting: a flag, ``CREDITKIT_EVENTS_URL`` or the config file, checked for its
form; ``creditkit ingest-worker`` refuses to start without it, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditkit.cli import main
from creditkit.errors import InvalidRequest
from creditkit.events.stream import events_servers
from creditkit.events.worker import retry_delay_seconds
from creditkit.server.serve import Settings

TWO = "nats://127.0.0.1:4301,nats://127.0.0.1:4302"


def test_the_events_servers_come_from_a_flag_the_environment_or_the_config_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "creditkit.toml"
    config.write_text('events = "nats://127.0.0.1:4400"\n')
    assert Settings.resolve({}, {}, str(config)).events == "nats://127.0.0.1:4400"
    environment = {"CREDITKIT_EVENTS_URL": TWO}
    assert Settings.resolve({}, environment, str(config)).events == TWO
    flagged = Settings.resolve({"events": "nats://127.0.0.1:4500"}, environment, str(config))
    assert flagged.events == "nats://127.0.0.1:4500"
    # Worker processes read the settings back from the environment serve gives them.
    assert Settings.resolve({}, flagged.environment(), None).events == "nats://127.0.0.1:4500"
    assert events_servers(TWO) == ("nats://127.0.0.1:4301", "nats://127.0.0.1:4302")


@pytest.mark.parametrize(
    "setting", ["", "127.0.0.1:4222", "http://127.0.0.1:4222", "nats://a:1,nats://b"]
)
def test_an_events_setting_not_of_server_urls_is_refused_naming_events(setting: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        Settings.resolve({"events": setting}, {}, None)
    assert refused.value.field == "events"


def test_the_ingest_worker_needs_the_events_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDITKIT_EVENTS_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["ingest-worker", "--database-url", url]) != 0
    error = capsys.readouterr().err
    assert error.startswith("creditkit: events") and "--events nats://" in error
    assert error.count("\n") == 1


def test_retries_wait_longer_each_time_up_to_a_bound() -> None:
    delays = [retry_delay_seconds(deliveries) for deliveries in range(1, 12)]
    assert delays[:3] == [0.5, 1.0, 2.0]
    assert delays == sorted(delays)
    assert max(delays) == 30.0
