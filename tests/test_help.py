"""Every command's help, sub-commands included, read from the app itself so that a new command
cannot go without: an example, and the command's own name in it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Invoke, command_paths

COMMANDS = command_paths()


def test_the_commands_are_read_from_the_app_sub_commands_included() -> None:
    assert ("models", "activate") in COMMANDS
    assert ("models",) in COMMANDS
    assert () not in COMMANDS  # the top level is no command of its own
    assert len(COMMANDS) == len(set(COMMANDS))


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(path) for path in COMMANDS])
def test_every_command_has_help_with_an_example(cli: Invoke, command: tuple[str, ...]) -> None:
    outcome = cli(*command, "-h")
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert re.search(r"^  Examples?:$", outcome.stdout, re.MULTILINE)
    assert f"datamgr {' '.join(command)}" in outcome.stdout
