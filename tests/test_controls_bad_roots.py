"""The control commands on a root whose approval log is a directory: an error naming it, never a traceback."""

from __future__ import annotations

import json

import pytest

from genesis_payments.cli.main import main


@pytest.mark.parametrize("argv", [
    ["audit", "verify"],
    ["halt", "--all", "--reason", "r", "--by", "me"],
    ["resume", "--all", "--by", "me"],
    ["review", "list"],
])
def test_a_directory_in_place_of_the_log_is_an_operation_error(settings, capsys, argv) -> None:
    settings.approval_log_path.mkdir(parents=True)
    assert main(argv) == 1
    assert str(settings.approval_log_path) in capsys.readouterr().err


def test_status_shows_the_chain_parts_unavailable_and_the_rest(settings, capsys) -> None:
    settings.approval_log_path.mkdir(parents=True)
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert not status["halts"]["available"] and "not a regular file" in status["halts"]["error"]
    assert status["jobs"]["available"] and status["settlement_pending"]["available"]
