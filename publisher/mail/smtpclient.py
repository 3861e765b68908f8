"""aiosmtplib's SMTP client, minus two per-message costs when there is nothing for them to do.

aiosmtplib (5.1) prepares every DATA payload with two regular-expression passes over the
whole message, one turning lone CR or LF into CRLF and one doubling a period that starts a
line (RFC 5321 4.5.2), and parses each MAIL FROM and RCPT TO address with
`email.utils.parseaddr`. For a 52 kB digest the two passes take about half a millisecond:
more than half of the client's CPU per message, spent even when the bytes are already
exactly what the server must receive, as `DigestMessage.personalise` builds them.

`Client` is `aiosmtplib.SMTP` with an upstream-style fix, nothing forked:

- DATA: a payload already in wire form (`in_wire_form`: CRLF line ends only, ending in
  CRLF, no line starting with a period) goes out as is; `WireMessage` bytes carry that
  promise from the code that built them and skip even the check. Anything else takes
  aiosmtplib's own path, unchanged.
- MAIL/RCPT: a plain dot-atom address is quoted as `<address>` without the parser; any
  other form (quoted local parts, display names, non-ASCII) takes aiosmtplib's path.

Either way the bytes on the wire are identical to stock aiosmtplib's
(tests/mail/test_smtpclient.py sends both ways and compares). Proposed upstream as a fast
path in `SMTPProtocol.execute_data_command` and `quote_address`; see benchmarks/README.md
("Send") for the note and the figures. When a release has it, delete this module and use
`aiosmtplib.SMTP` directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default, SMTPStatus

from publisher.mail.message import WireMessage, in_wire_form

# RFC 5321 dot-atom local part @ LDH domain: the form email.utils.parseaddr hands back
# unchanged, so quoting it by hand gives aiosmtplib's own result (the tests check it).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")

_Timeout = float | Literal[Default.token] | None


def quoted(address: str) -> str | None:
    """`<address>` for a plain dot-atom address; None when aiosmtplib must parse it."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return None


class Client(aiosmtplib.SMTP):
    """aiosmtplib.SMTP that skips DATA preparation and address parsing with nothing to do."""

    async def mail(
        self, sender: str, /, *, options: Iterable[str] | None = None,
        encoding: str = "ascii", timeout: _Timeout = Default.token,
    ) -> SMTPResponse:
        plain = quoted(sender)
        if plain is None:
            return await super().mail(sender, options=options, encoding=encoding,
                                      timeout=timeout)
        await self._ehlo_or_helo_if_needed()
        response = await self.execute_command(
            b"MAIL", b"FROM:" + plain.encode(encoding),
            *(o.encode("ascii") for o in options or ()), timeout=timeout,
        )
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        return response

    async def rcpt(
        self, recipient: str, /, *, options: Iterable[str] | None = None,
        encoding: str = "ascii", timeout: _Timeout = Default.token,
    ) -> SMTPResponse:
        plain = quoted(recipient)
        if plain is None:
            return await super().rcpt(recipient, options=options, encoding=encoding,
                                      timeout=timeout)
        await self._ehlo_or_helo_if_needed()
        response = await self.execute_command(
            b"RCPT", b"TO:" + plain.encode(encoding),
            *(o.encode("ascii") for o in options or ()), timeout=timeout,
        )
        if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
        return response

    async def data(self, message: str | bytes, /, *, timeout: _Timeout = Default.token
                   ) -> SMTPResponse:
        if isinstance(message, str) or not (
            type(message) is WireMessage or in_wire_form(message)
        ):
            return await super().data(message, timeout=timeout)
        protocol = self.protocol
        if protocol is None or protocol._command_lock is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        await self._ehlo_or_helo_if_needed()
        wait = self.timeout if timeout is Default.token else timeout
        # The exchange of aiosmtplib's SMTPProtocol.execute_data_command, without the two
        # passes that would return the payload unchanged.
        try:
            async with protocol._command_lock:
                protocol._response_pending = True
                protocol.write(b"DATA\r\n")
                start = await protocol.read_response(timeout=wait)
                if start.code != SMTPStatus.start_input:
                    raise aiosmtplib.SMTPDataError(start.code, start.message)
                protocol._response_pending = True
                protocol.write(message + b".\r\n")
                response = await protocol.read_response(timeout=wait)
                if response.code != SMTPStatus.completed:
                    raise aiosmtplib.SMTPDataError(response.code, response.message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            self.close()
            raise
        return response
