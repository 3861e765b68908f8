"""What subscribers chose on the preferences page survives the office's next CSV import."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core.config import Config
from publisher.store.engine import Store, open_store
from publisher.subscribers import csvfile, tokens
from publisher.subscribers import registry as subs
from publisher.web import create_app
from tests.conftest import Cli
from tests.helpers.web import KEY, Client, cli_env, two_lists_config

OFFICE = "email,name,language,timezone\nivan@example.org,{name},kk,Asia/Aqtobe\n"


@pytest.fixture
def office(
    store_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Config, Store, Cli, Path]]:
    """Lists weekly and events; ivan imported from the office CSV (kk, Asia/Aqtobe)."""
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = two_lists_config(tmp_path, store_cfg.store.url)
    store = open_store(cfg)
    cli = Cli(cli_env(cfg, tmp_path))
    path = tmp_path / "office.csv"
    path.write_text(OFFICE.format(name="Иван"), encoding="utf-8")
    assert cli("subscribers", "import", str(path), "--list", "weekly").exit_code == 0
    yield cfg, store, cli, path
    store.close()


def _save_preferences(cfg: Config, store: Store, **form: object) -> None:
    """The subscriber opens their preferences link and saves the form."""
    with store.session() as s:
        sub = subs.by_email(s, "ivan@example.org")
        assert sub is not None
        token = tokens.make(KEY, "preferences", sub.token_id)
    client = Client(create_app(cfg, store))
    page = client.get(f"/preferences/{token}")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    saved = client.post(f"/preferences/{token}", data={"csrf": found.group(1), **form})
    assert saved.status_code == 200


def _ivan(store: Store) -> tuple[str, str, str, dict[str, str]]:
    with store.session() as s:
        doc = next(d for d in subs.listing(s) if d["email"] == "ivan@example.org")
    return doc["name"], doc["language"], doc["timezone"], doc["lists"]


def test_reimport_keeps_language_and_zone_the_subscriber_chose(
    office: tuple[Config, Store, Cli, Path],
) -> None:
    """Switched to ru and Almaty on the page, Ivan stays so when the office re-imports kk/Aqtobe."""
    cfg, store, cli, path = office
    _save_preferences(cfg, store, language="ru", timezone="Asia/Almaty", lists=["weekly"])
    path.write_text(OFFICE.format(name="Иван Петров"), encoding="utf-8")
    result = cli("subscribers", "import", str(path), "--list", "weekly")
    assert result.exit_code == 0
    assert "0 updated, 0 unchanged, 1 kept (changed by the subscriber)" in result.stdout
    assert (
        "office.csv: line 2: kept ivan@example.org: changed by the subscriber, kept: "
        "language ru, time zone Asia/Almaty"
    ) in result.stdout
    assert _ivan(store) == ("Иван Петров", "ru", "Asia/Almaty", {"weekly": "active"})
    doc = json.loads(cli("subscribers", "import", str(path), "--list", "weekly", "--json").stdout)
    assert [(n["line"], n["email"]) for n in doc["kept"]] == [(2, "ivan@example.org")]
    assert (doc["updated"], doc["unchanged"]) == (0, 0)


def test_overwrite_preferences_puts_the_office_values_back(
    office: tuple[Config, Store, Cli, Path],
) -> None:
    """`--overwrite-preferences` replaces the subscriber's language, zone and list choice."""
    cfg, store, cli, path = office
    _save_preferences(cfg, store, language="ru", timezone="Asia/Almaty", lists=["weekly"])
    result = cli("subscribers", "import", str(path), "--list", "weekly", "--overwrite-preferences")
    assert result.exit_code == 0 and "1 updated" in result.stdout and "0 kept" in result.stdout
    assert _ivan(store)[1:3] == ("kk", "Asia/Aqtobe")
    events = cli("subscribers", "import", str(path), "--list", "events", "--json",
                 "--overwrite-preferences")
    assert json.loads(events.stdout)["updated"] == 1
    assert _ivan(store)[3] == {"weekly": "active", "events": "active"}


def test_a_list_left_unticked_on_the_page_is_not_added_by_import(
    office: tuple[Config, Store, Cli, Path],
) -> None:
    """Events was offered and left unticked: importing Ivan into events keeps him out of it."""
    cfg, store, cli, path = office
    _save_preferences(cfg, store, language="kk", timezone="Asia/Aqtobe", lists=["weekly"])
    doc = json.loads(cli("subscribers", "import", str(path), "--list", "events", "--json").stdout)
    assert [n["reason"] for n in doc["kept"]] == [
        "changed by the subscriber, kept: lists (not added to events)"
    ]
    assert _ivan(store)[3] == {"weekly": "active"}
    # A list that did not exist when he saved the page was never offered: he is added.
    report = csvfile.import_csv(store, path, "later", default_language="kk")
    assert (report.updated, report.kept) == (1, [])
    assert _ivan(store)[3] == {"weekly": "active", "later": "active"}


def test_subscribers_who_never_saved_the_page_follow_the_office_list(
    office: tuple[Config, Store, Cli, Path],
) -> None:
    """Without a choice of their own, a re-import still updates language and time zone."""
    _, store, cli, path = office
    path.write_text(
        "email,name,language,timezone\nivan@example.org,Иван,ru,Europe/Moscow\n", encoding="utf-8"
    )
    doc = json.loads(cli("subscribers", "import", str(path), "--list", "weekly", "--json").stdout)
    assert (doc["updated"], doc["kept"]) == (1, [])
    assert _ivan(store)[1:3] == ("ru", "Europe/Moscow")
