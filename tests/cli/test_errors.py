"""Every error of the command line is one line on stderr with the documented exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from publisher.cli.main import main
from publisher.core import config
from publisher.store.engine import open_store
from publisher.store.models import Subscriber
from publisher.subscribers import tokens
from tests.conftest import ROOT
from tests.helpers.mail import free_port, subscriber, wait_for

KEY = "test-signing-key-0123456789abcdef"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


@pytest.mark.parametrize(("args", "words"), [
    (["import", "nosuch.txt"], "does not exist"),
    (["bogus"], "No such command 'bogus'"),
    (["send"], "Missing option '--list'"),
    (["site", "build", "--frobnicate"], "No such option '--frobnicate'"),
], ids=["missing-file", "unknown-command", "missing-option", "unknown-option"])
def test_usage_errors_are_one_line_with_exit_2(
    tmp_path: Path, args: list[str], words: str
) -> None:
    """Click's usage errors come out as one `publisher: error:` line with a hint, exit 2."""
    result = run(*args, env={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("publisher: error: ") and words in lines[0]
    assert "-h` shows the usage" in lines[0] and result.stdout == ""


def test_help_and_version_still_exit_0(tmp_path: Path) -> None:
    """-h and -V print what they always did and exit 0."""
    assert run("-h").exit_code == 0 and "Usage:" in run("-h").stdout
    assert run("send", "-h").exit_code == 0
    assert run("-V").stdout.startswith("publisher, version ")


def test_publisher_debug_is_not_a_config_key(tmp_path: Path) -> None:
    """PUBLISHER_DEBUG=1, which the error hint suggests, no longer makes every command fail."""
    result = run("status", env={"PUBLISHER_DATA_DIR": str(tmp_path / "var"),
                                "PUBLISHER_DEBUG": "1"})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serve_and_run_without_a_signing_key_exit_2_with_a_hint(
    tmp_path: Path, command: str
) -> None:
    """Without PUBLISHER_SECRET_KEY, `serve` and `run` stop at once, pointing to --demo."""
    result = run(command, env={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "PUBLISHER_SECRET_KEY is not set" in line and f"publisher {command} --demo" in line


def _cookie_via_proxy(data: Path, command: list[str], port: int, trusted: str, url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update({"PUBLISHER_DATA_DIR": str(data), "PUBLISHER_SECRET_KEY": KEY,
                "PUBLISHER_WEB__PORT": str(port), "PUBLISHER_WEB__TRUSTED_PROXIES": trusted})
    proc = subprocess.Popen([sys.executable, "-m", "publisher", *command], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), 60, "the web server")
        request = urllib.request.Request(url.format(port=port), headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return str(resp.headers.get("set-cookie", ""))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve"], ["run", "--no-worker"]], ids=["serve", "run"])
def test_forwarded_headers_count_only_from_trusted_proxies(
    tmp_path: Path, command: list[str]
) -> None:
    """`serve` and `run` alike: behind a proxy named in [web] trusted_proxies the CSRF cookie
    is Secure (the visitor came over https); without it X-Forwarded-Proto is ignored."""
    data = tmp_path / "var"
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(data)})
    store = open_store(cfg)
    try:
        subscriber(store, "reader@example.org", "kk")
        with store.session() as s:
            token_id = s.scalar(select(Subscriber.token_id))
    finally:
        store.close()
    assert token_id
    url = "http://127.0.0.1:{port}/preferences/" + tokens.make(
        KEY, "preferences", token_id, "weekly")
    behind = _cookie_via_proxy(data, command, free_port(), "127.0.0.1", url)
    direct = _cookie_via_proxy(data, command, free_port(), "", url)
    assert "csrf" in behind.lower() and "Secure" in behind
    assert "csrf" in direct.lower() and "Secure" not in direct


def test_status_last_import_is_when_the_import_ran(tmp_path: Path) -> None:
    """Importing articles dated years ago moves "last import" to now, not to their dates."""
    from datetime import UTC, datetime, timedelta

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "import"
    env = {"PUBLISHER_DATA_DIR": str(tmp_path / "var")}
    assert run("import", str(fixtures / "mixed.txt"), env=env).exit_code == 0
    doc = json.loads(run("status", "--json", env=env).stdout)
    imported = datetime.fromisoformat(doc["last_import"]["imported_at"])
    assert datetime.now(UTC) - imported < timedelta(minutes=10)
    assert doc["last_import"]["article_changed_at"] < "2026"  # the articles' own dates
