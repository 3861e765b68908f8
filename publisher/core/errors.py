"""Errors that reach the user as one line on stderr with an exit status."""

from __future__ import annotations


class PublisherError(Exception):
    """A runtime failure (exit status 1). `hint` tells the user what to check."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class InputError(PublisherError):
    """Rejected input or bad usage (exit status 2): a file, a field, a line."""

    exit_code = 2


class ConfigError(InputError):
    """publisher.toml or a PUBLISHER_* variable is wrong."""
