"""[templates] dir: branded templates override the packaged ones file by file."""

from __future__ import annotations

from pathlib import Path

from publisher.i18n.locale import TEMPLATES_DIR
from tests.conftest import Cli
from tests.helpers.mail import article, subscriber


def _override(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_an_override_replaces_one_template_and_keeps_the_rest(
    cli: Cli, store: object, tmp_path: Path
) -> None:
    """A branded site/article.html is used for article pages; index pages stay packaged."""
    article(store, "Университетте жаңа зертхана ашылды")
    brand = tmp_path / "brand"
    packaged = (TEMPLATES_DIR / "site" / "article.html").read_text(encoding="utf-8")
    _override(brand, "site/article.html", packaged.replace("{% block main %}",
              "{% block main %}<p class=\"brand\">KazNMU press</p>", 1))
    cli.env["PUBLISHER_TEMPLATES__DIR"] = str(brand)
    result = cli("site", "build")
    assert result.exit_code == 0, result.output
    site_dir = Path(cli.env["PUBLISHER_DATA_DIR"]) / "site"
    pages = [p for p in (site_dir / "kk").glob("*/index.html")
             if p.parent.name not in ("page", "digests")]
    assert pages and all('<p class="brand">KazNMU press</p>' in p.read_text("utf-8")
                         for p in pages)
    assert "KazNMU press" not in (site_dir / "kk" / "index.html").read_text("utf-8")


def test_a_broken_site_template_fails_the_build_naming_file_and_line(
    cli: Cli, store: object, tmp_path: Path
) -> None:
    """A syntax error in an override: exit 2, one line with the template's name and line."""
    article(store, "Университетте жаңа зертхана ашылды")
    brand = tmp_path / "brand"
    _override(brand, "site/article.html", "<html>\n<body>\n{% if %}\n</body>\n")
    cli.env["PUBLISHER_TEMPLATES__DIR"] = str(brand)
    result = cli("site", "build")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "site/article.html:3" in line and "[templates] dir" in line


def test_a_broken_email_template_fails_preview_and_send_before_any_mail(
    cli: Cli, store: object, tmp_path: Path
) -> None:
    """An email override using an unknown variable fails `digest preview` and `send` with
    its name and line, and nobody is mailed."""
    article(store, "Университетте жаңа зертхана ашылды")
    subscriber(store, "reader@example.org", "kk")
    brand = tmp_path / "brand"
    _override(brand, "email/digest.txt", "{{ list_title }}\n\n{{ no_such_value.x }}\n")
    cli.env.update({"PUBLISHER_TEMPLATES__DIR": str(brand),
                    "PUBLISHER_SECRET_KEY": "test-signing-key-0123456789abcdef"})
    preview = cli("digest", "preview", "--list", "weekly", "--lang", "kk")
    assert preview.exit_code == 2
    assert "email/digest.txt:3" in preview.stderr and len(preview.stderr.splitlines()) == 1
    send = cli("send", "--list", "weekly")
    assert send.exit_code == 2 and "email/digest.txt:3" in send.stderr
    outbox = Path(cli.env["PUBLISHER_DATA_DIR"]) / "outbox" / "new"
    assert not outbox.exists() or not any(outbox.iterdir())


def test_a_broken_email_template_stops_delivery_and_fails_nobody(
    store_cfg: object, store: object, tmp_path: Path
) -> None:
    """Under a worker or `run` (no pre-check), a broken email template stops the run with
    its name and line; every delivery stays queued instead of failing one by one."""
    from dataclasses import replace

    import pytest
    from sqlalchemy import select

    from publisher.core.errors import InputError
    from publisher.mail.delivery import deliver
    from publisher.mail.digest import create_issue
    from publisher.store.models import Delivery

    article(store, "Университетте жаңа зертхана ашылды")
    for i in range(3):
        subscriber(store, f"reader{i}@example.org", "kk")
    assert create_issue(store_cfg, store, "weekly") is not None
    brand = tmp_path / "brand"
    _override(brand, "email/digest.txt", "{{ list_title }}\n\n{{ no_such_value.x }}\n")
    broken = replace(store_cfg, templates=replace(store_cfg.templates, dir=str(brand)))
    with pytest.raises(InputError, match=r"email/digest\.txt:3"):
        deliver(broken, store, key="test-signing-key-0123456789abcdef")
    with store.session() as s:
        assert set(s.scalars(select(Delivery.state))) == {"queued"}
