from __future__ import annotations

from pathlib import Path

import click

from publisher.cli.app import CONTEXT
from publisher.core.config import Config, SiteConfig
from publisher.service import demo as demo_mod
from publisher.store.engine import open_store


@click.command("demo", context_settings=CONTEXT)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var"),
    show_default=True, help="Where the demo store, site and outbox go.",
)
def demo(data_dir: Path) -> None:
    """Run the whole pipeline on samples/ with embedded defaults, into --data-dir.

    publisher.toml and PUBLISHER_* settings are ignored on purpose: the demo must never
    import samples into, or send digests from, a production store.
    """
    # Links end in index.html so the pages also work opened straight from disk.
    cfg = Config(data_dir=data_dir, source="embedded defaults (demo)",
                 site=SiteConfig(pretty_urls=False))
    store = open_store(cfg)
    try:
        demo_mod.run(cfg, store)
    finally:
        store.close()


COMMANDS = [demo]
