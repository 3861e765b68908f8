"""The web endpoint (Starlette): the built site, subscribe, confirm, unsubscribe, preferences."""

from publisher.web.app import create_app

__all__ = ["create_app"]
