"""Configuration: defaults, file, environment overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.core import config
from publisher.core.errors import ConfigError


def test_defaults_work_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no publisher.toml the embedded defaults give a SQLite store under ./var."""
    monkeypatch.chdir(tmp_path)
    cfg = config.load(environ={})
    assert cfg.data_dir == Path("var")
    assert cfg.store_url == "sqlite:///var/publisher.db"
    assert cfg.get_list("weekly").title["kk"] == "Апталық дайджест"


def test_file_then_environment_override(tmp_path: Path) -> None:
    """PUBLISHER_SECTION__KEY beats the file, which beats the defaults."""
    path = tmp_path / "publisher.toml"
    path.write_text(
        'data_dir = "/srv/pub"\n[smtp]\nhost = "mx.local"\nport = 2525\n', encoding="utf-8"
    )
    cfg = config.load(
        path, environ={"PUBLISHER_SMTP__PORT": "587", "PUBLISHER_SMTP__TLS": "starttls"}
    )
    assert (cfg.data_dir, cfg.smtp.host, cfg.smtp.port, cfg.smtp.tls) == (
        Path("/srv/pub"),
        "mx.local",
        587,
        "starttls",
    )


def test_password_in_file_is_refused(tmp_path: Path) -> None:
    """A secret written into publisher.toml is an error that names the variable to use instead."""
    path = tmp_path / "publisher.toml"
    path.write_text('[smtp]\npassword = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="PUBLISHER_SMTP__PASSWORD") as err:
        config.load(path, environ={})
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[smtp]\nport = 'many'\n", "[smtp].port must be a number"),
        ("[smtp]\nhots = 'x'\n", "unknown key 'hots'"),
        ("[mail]\ntransport = 'pigeon'\n", "transport must be maildir or smtp"),
        ("[[lists]]\nslug = 'a'\nlanguages = ['de']\n", "unknown language 'de'"),
        ("data_dir = \n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    """Each bad setting is reported with the section and key it concerns."""
    path = tmp_path / "publisher.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={})
    assert needle in str(err.value)


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped publisher.example.toml is valid as it stands."""
    example = Path(__file__).resolve().parents[2] / "publisher.example.toml"
    cfg = config.load(example, environ={})
    assert [x.slug for x in cfg.lists] == ["weekly", "daily"]
