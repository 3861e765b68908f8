from __future__ import annotations

import click

from publisher import demo as demo_mod
from publisher.cli import CONTEXT, App, pass_app


@click.command("demo", context_settings=CONTEXT)
@pass_app
def demo(app: App) -> None:
    """Run the whole pipeline on samples/ with embedded defaults, into data_dir."""
    demo_mod.run(app.cfg, app.store)


COMMANDS = [demo]
