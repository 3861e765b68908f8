"""The command-line contract: -h everywhere, one-line errors, exit statuses."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from publisher.cli.main import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Through Click's own listing: the top group loads each command's module on demand.
    ctx = click.Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_every_command_accepts_dash_h(path: tuple[str, ...]) -> None:
    """`publisher <command> -h` prints help and exits 0 for every command."""
    result = CliRunner().invoke(main, [*path, "-h"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_a_group_without_a_command_prints_its_help() -> None:
    """`publisher`, or `publisher articles`, with nothing after it prints that group's help
    laid out over its lines, its commands listed (not folded into one error line), and
    exits 2."""
    for args in ([], ["articles"]):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert lines[0].startswith("Usage: ")
        assert "Commands:" in lines
        assert not result.stderr.startswith("publisher: error")


def test_a_command_loads_only_its_own_module() -> None:
    """`publisher import` loads the import command and what it uses, not the web server,
    the scheduler or the mailer: each command starts without paying for the others."""
    import subprocess
    import sys

    code = ("import sys; from publisher.cli.main import main; "
            "main.get_command(None, 'import'); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(("
            "'publisher.cli.', 'starlette', 'apscheduler', 'aiosmtplib')))))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    assert "publisher.cli.imports" in loaded
    assert not [m for m in loaded if m.startswith(("starlette", "apscheduler", "aiosmtplib"))]
    assert "publisher.cli.send" not in loaded


def test_unusable_data_dir_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """A data_dir that cannot be created gives exit 1 and one line naming the setting."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["articles", "list"], env={"PUBLISHER_DATA_DIR": str(blocker / "var")},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "cannot create the data directory" in line and "PUBLISHER_DATA_DIR" in line


def test_bad_config_is_exit_2(tmp_path: Path) -> None:
    """A configuration error is bad usage: exit 2 and one line naming the key."""
    path = tmp_path / "publisher.toml"
    path.write_text("[smtp]\nport = 'many'\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(path), "status"], catch_exceptions=False)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "[smtp].port must be a number" in line
