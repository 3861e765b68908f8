from __future__ import annotations

import click

from publisher.cli.app import CONTEXT, App, pass_app, require_signing_key
from publisher.web.proxy import proxy_settings


@click.command("serve", context_settings=CONTEXT)
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [web] port, 8000).")
@click.option("--demo", is_flag=True, help="Allow running without PUBLISHER_SECRET_KEY (demo key).")
@pass_app
def serve(app: App, host: str | None, port: int | None, demo: bool) -> None:
    """Serve the built site, the subscribe form and the links in emails (Starlette + uvicorn)."""
    import uvicorn

    from publisher.web import create_app

    cfg = require_signing_key(app.cfg, "serve", demo)
    web = create_app(cfg, app.store, demo=demo)
    host = host or cfg.web.host
    port = cfg.web.port if port is None else port
    click.echo(f"serving {cfg.site_dir} and subscription pages on http://{host}:{port}/", err=True)
    uvicorn.run(web, host=host, port=port, log_level="info", **proxy_settings(cfg))


COMMANDS = [serve]
