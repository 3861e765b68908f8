"""`publisher demo`: the whole pipeline on samples/, isolated from any configured store."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli.main import main


def test_demo_runs_the_pipeline_and_a_second_run_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo imports 18 articles, builds the site and mails 9 digests; a rerun mails none."""
    # A production-looking setting must not leak into the demo.
    monkeypatch.setenv("PUBLISHER_MAIL__TRANSPORT", "smtp")
    monkeypatch.setenv("PUBLISHER_STORE__URL", "postgresql://nobody@127.0.0.1:1/prod")
    runner = CliRunner()
    data = tmp_path / "var"
    first = runner.invoke(main, ["demo", "--data-dir", str(data)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "18 article(s)" in first.output
    assert (data / "site" / "kk" / "index.html").is_file()
    # Opened from disk as the demo suggests, links name files, not folders.
    assert 'href="../kk/index.html"' in (data / "site" / "kk" / "index.html").read_text()
    last = first.output.rstrip().splitlines()[-1]
    assert ".venv/bin/publisher serve --demo" in last and "http://127.0.0.1:8000/kk/" in last
    mails = sorted((data / "outbox" / "new").iterdir())
    assert len(mails) == 9
    languages = set()
    for path in mails:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        languages.add(msg["Content-Language"])
    assert languages == {"kk", "ru", "en"}
    second = runner.invoke(main, ["demo", "--data-dir", str(data)], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "0 new" in second.output
    assert len(list((data / "outbox" / "new").iterdir())) == 9
