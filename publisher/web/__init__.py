"""The web endpoint (Starlette): serves the built site and the subscriber pages, subscribe,
confirm, one-click unsubscribe and preferences. `create_app` is its public face."""

from publisher.web.app import create_app

__all__ = ["create_app"]
