"""The ``events`` setting: a flag, ``CREDITKIT_EVENTS_URL`` or the config file, checked for its
form; ``creditkit ingest-worker`` refuses to start without it, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from creditkit.cli import main
from creditkit.errors import InvalidRequest
from creditkit.events.nodes import _free_port
from creditkit.events.stream import events_servers
from creditkit.events.worker import BATCH_MAX, retry_delay_seconds
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


def test_the_ingest_worker_gives_up_within_its_start_bound_when_no_server_answers(
    tmp_path: Path,
) -> None:
    # A free loopback port with nothing listening: the connection retries it without end, so
    # only the worker's own bound ends the start. A subprocess, so that a worker that never gave
    # up fails this test (by subprocess's timeout) instead of hanging the run.
    nobody = f"nats://127.0.0.1:{_free_port()}"
    command = [sys.executable, "-m", "creditkit.cli", "ingest-worker", "--events", nobody]
    command += ["--database-url", f"sqlite:///{tmp_path / 'ledger.db'}", "--start-seconds", "0.3"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 1
    said = [line for line in finished.stderr.splitlines() if line.startswith("creditkit: ")]
    assert said[-1] == (
        f"creditkit: the events stream did not answer: no server answered within 0.3 s ({nobody})"
    )


def test_the_start_bound_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    arguments = ["ingest-worker", "--database-url", url, "--events", "nats://127.0.0.1:4999"]
    assert main([*arguments, "--start-seconds", "0"]) == 1
    assert capsys.readouterr().err.startswith("creditkit: --start-seconds")
    assert main([*arguments, "--batch-max", str(BATCH_MAX + 1)]) == 1
    assert capsys.readouterr().err.startswith("creditkit: --batch-max")


def test_the_partitions_come_from_the_settings_and_the_workers_own_some(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert Settings.resolve({}, {}, None).events_partitions == 1
    environment = {"CREDITKIT_EVENTS_PARTITIONS": "4"}
    resolved = Settings.resolve({}, environment, None)
    assert resolved.events_partitions == 4
    assert Settings.resolve({}, resolved.environment(), None).events_partitions == 4
    with pytest.raises(InvalidRequest) as refused:
        Settings.resolve({"events_partitions": 0}, {}, None)
    assert refused.value.field == "events_partitions"
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    arguments = ["ingest-worker", "--database-url", url, "--events", "nats://127.0.0.1:4999"]
    assert main([*arguments, "--events-partitions", "2", "--partitions", "2"]) == 1
    assert capsys.readouterr().err.startswith("creditkit: --partitions: each must be 0 to 1")
    assert main([*arguments, "--partitions", "zero"]) == 1
    assert capsys.readouterr().err.startswith("creditkit: --partitions")
