"""The ``creditkit`` command names a defect in creditkit (``InvariantViolation``) as one, above
its traceback, instead of printing it as the one line of a user's mistake."""

from __future__ import annotations

import argparse

import pytest

from creditkit import cli
from creditkit.cli_errors import defect, explain
from creditkit.errors import InvalidRequest, InvariantViolation


def test_a_defect_is_no_mistake_of_the_users() -> None:
    error = InvariantViolation("legs sum to zero", "sum 3")
    assert explain(error, argparse.Namespace()) is None  # not one line: the traceback stays
    line = defect(error)
    assert line is not None and "defect in creditkit" in line and "legs sum to zero" in line
    assert defect(InvalidRequest("amount", "must be above 0")) is None


def test_the_command_says_defect_and_keeps_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_arguments: argparse.Namespace) -> int:
        raise InvariantViolation("a rule", "broken by the test")

    monkeypatch.setitem(cli._COMMANDS, "migrate", broken)
    with pytest.raises(InvariantViolation):
        cli.main(["migrate"])
    said = capsys.readouterr().err
    assert said.startswith("creditkit: a defect in creditkit")
    assert "a rule: broken by the test" in said
