"""The double opt-in email: rendered in the chosen language, sent through the mail transport."""

from __future__ import annotations

import logging
import secrets
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from publisher.core.config import Config
from publisher.core.errors import PublisherError
from publisher.i18n.locale import environment, gettext
from publisher.mail.transport import open_transport
from publisher.store.models import utcnow
from publisher.web.actions import Confirmation

log = logging.getLogger("publisher.web")


def confirm_message(
    cfg: Config, confirmation: Confirmation, url: str, list_titles: list[str]
) -> EmailMessage:
    lang = confirmation.language
    env = environment(lang)
    context = {
        "name": confirmation.name, "url": url, "lists": list_titles,
        "site_title": cfg.site.title.get(lang, ""), "base_url": cfg.site.base_url,
        "hours": int(cfg.web.confirm_hours),
    }
    msg = EmailMessage()
    # EmailMessage refuses CR/LF in header values, so a crafted name cannot add headers;
    # the name is kept out of the headers anyway (it only greets in the body).
    msg["From"] = cfg.mail.from_address
    msg["To"] = confirmation.email
    title = cfg.site.title.get(lang, "")
    msg["Subject"] = gettext(lang, "Confirm your subscription") + (f" — {title}" if title else "")
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(idstring=secrets.token_hex(8), domain=cfg.mail.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(env.get_template("email/confirm.txt").render(**context), cte="quoted-printable")
    msg.add_alternative(
        env.get_template("email/confirm.html").render(**context), subtype="html",
        cte="quoted-printable",
    )
    # After the body: building the alternative moves Content-* headers into the first part.
    msg["Content-Language"] = lang
    return msg


class Mailer:
    """Sends confirmation emails; one Maildir writer per app keeps its file names unique."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._maildir = open_transport(cfg) if cfg.mail.transport == "maildir" else None

    async def send(self, msg: EmailMessage) -> bool:
        """Hand the message to the configured transport (maildir or SMTP); True if taken.

        It runs after the answer went out, so a failure can only be logged: the person sees
        the same page either way and may ask again once the rate window allows.
        """
        # SMTP connections belong to the running event loop: one short-lived pool per send.
        transport = self._maildir or open_transport(self.cfg)
        try:
            outcome = await transport.send(
                parseaddr(self.cfg.mail.from_address)[1], str(msg["To"]),
                msg.as_bytes(policy=SMTP),
            )
        except (PublisherError, OSError) as exc:
            log.error("confirmation email to %s not sent: %s", msg["To"], exc)
            return False
        finally:
            if transport is not self._maildir:
                await transport.close()
        if outcome.kind != "accepted":
            log.warning("confirmation email to %s: %s", msg["To"], outcome.describe())
        return outcome.kind == "accepted"
