"""The clock of a served creditkit in rehearsals and end-to-end tests (``clock_file``): the time
in a file, read at every call, never moving backward; a bad file names the setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from creditkit.clock import FileClock
from creditkit.errors import InvalidRequest
from creditkit.server.serve import Settings


def test_the_time_is_the_files_and_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("2026-03-01T12:00:00+01:00\n")
    clock = FileClock(str(path))
    assert clock() == datetime(2026, 3, 1, 11, tzinfo=UTC)
    path.write_text("2026-04-01T00:00:00+00:00")
    assert clock() == datetime(2026, 4, 1, tzinfo=UTC)
    path.write_text("2026-01-01T00:00:00+00:00")
    assert clock() == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("soon", "one ISO 8601 time"),
        ("2026-03-01T00:00:00", "offset"),
        ("2026-03-01T00:00:00+00:00" * 3, "one ISO 8601 time"),
    ],
)
def test_a_bad_file_names_the_setting(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "clock"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidRequest) as raised:
        FileClock(str(path))
    assert raised.value.field == "clock_file"
    assert reason in str(raised.value)


def test_serve_reads_it_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("2026-03-01T00:00:00+00:00")
    settings = Settings.resolve({}, {"CREDITKIT_CLOCK_FILE": str(path)}, None)
    clock = settings.clock()
    assert clock is not None and clock() == datetime(2026, 3, 1, tzinfo=UTC)
    assert Settings.resolve({}, {}, None).clock() is None
