"""The local outbox: the emails the stack's SES (moto) has sent, readable by the CLI and tests.

moto's SES keeps every message it accepts (``SESBackend.sent_messages``: SES v1 and v2, plain,
raw and templated) but no send time, and nothing across a restart. :func:`install` notes each
message's time as it is sent and writes the outbox to the state directory after each send;
:meth:`Outbox.restore` puts the messages back into moto at the next start. :class:`Outbox` reads
them in the shape the CLI shows (``tailorcast outbox list|open``); the stack serves the same on
``/_tailorcast/outbox`` (``localroutes.py``) for processes other than the stack's own.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("devstack.outbox")

_install_lock = threading.Lock()
_save_lock = threading.Lock()
_active: Outbox | None = None
#: A verification or reset code in a message body (Cognito's are 6 digits).
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    sent_at: float
    sender: str
    to: list[str]
    subject: str
    body: str

    def code(self) -> str | None:
        """The 6-digit code the message carries (a verification or reset email), if any."""
        found = CODE.search(self.body)
        return found.group(1) if found else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _from_moto(message: Any, sent_at: float) -> OutboxMessage:
    """One of moto's message objects, as the outbox shows it."""
    if hasattr(message, "raw_data"):
        parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html"))
        return OutboxMessage(
            message.id,
            sent_at,
            str(message.source or parsed.get("From", "")),
            [str(d) for d in message.destinations],
            str(parsed.get("Subject", "")),
            part.get_content() if part is not None else "",
        )
    destinations = message.destinations
    if isinstance(destinations, dict):
        to = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])]
    else:
        to = [str(d) for d in destinations or []]
    if hasattr(message, "template"):
        return OutboxMessage(
            message.id,
            sent_at,
            message.source,
            to,
            f"(template {message.template})",
            str(message.template_data),
        )
    return OutboxMessage(message.id, sent_at, message.source, to, message.subject, message.body)


class Outbox:
    """The messages of moto's SES in this process (account and region of the stack)."""

    def __init__(
        self,
        state_path: Path | None,
        account_id: str,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_path = state_path
        self.account_id = account_id
        self.region = region
        self.clock = clock
        self.sent_at: dict[str, float] = {}

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.account_id][self.region]

    def messages(self) -> list[OutboxMessage]:
        """Every message sent, oldest first."""
        out = []
        for message in list(self._backend().sent_messages):
            if hasattr(message, "ids"):
                message = _Bulk(message, message.ids[0])
            out.append(_from_moto(message, self.sent_at.get(message.id, 0.0)))
        return sorted(out, key=lambda m: m.sent_at)

    def get(self, message_id: str) -> OutboxMessage | None:
        return next((m for m in self.messages() if m.message_id == message_id), None)

    def latest(self, to: str, since: float = 0.0) -> OutboxMessage | None:
        """The newest message to ``to`` (case-insensitive) sent at or after ``since``."""
        wanted = to.strip().lower()
        found = [m for m in self.messages() if m.sent_at >= since and any(wanted in a.lower() for a in m.to)]
        return found[-1] if found else None

    def noted(self, message_id: str) -> None:
        self.sent_at[message_id] = self.clock()

    def save(self) -> None:
        if self.state_path is None:
            return
        from devstack.private import write_private

        with _save_lock:
            write_private(self.state_path, json.dumps([m.to_json() for m in self.messages()]))

    def restore(self) -> int:
        """Put the saved messages back into moto's SES (as plain messages); returns how many."""
        if self.state_path is None or not self.state_path.exists():
            return 0
        from moto.ses.models import Message

        saved = json.loads(self.state_path.read_text())
        backend = self._backend()
        for m in saved:
            backend.sent_messages.append(
                Message(m["message_id"], m["sender"], m["subject"], m["body"], {"ToAddresses": m["to"]})
            )
            self.sent_at[m["message_id"]] = m["sent_at"]
        return len(saved)


class _Bulk:
    """A bulk templated send, shown as one message (its first id)."""

    def __init__(self, message: Any, message_id: str) -> None:
        self.id = message_id
        self.source = message.source
        self.template = message.template
        self.template_data = message.template_data
        self.destinations = message.destinations


def install(outbox: Outbox) -> None:
    """Note the time of, and save after, every message moto's SES sends (idempotent)."""
    global _active
    _active = outbox
    from moto.ses.models import SESBackend

    with _install_lock:
        if getattr(SESBackend, "_tailorcast_outbox", False):
            return
        for name in ("send_email", "send_raw_email", "send_templated_email", "send_bulk_templated_email"):
            setattr(SESBackend, name, _noting(getattr(SESBackend, name)))
        SESBackend._tailorcast_outbox = True  # type: ignore[attr-defined]


def uninstall() -> None:
    """Stop noting sends (the stack stopped)."""
    global _active
    _active = None


def _noting(original: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = original(self, *args, **kwargs)
        if _active is not None:
            for message_id in getattr(message, "ids", None) or [message.id]:
                _active.noted(message_id)
            try:
                _active.save()
            except Exception:  # the message is sent; the next send saves it again
                logger.exception("could not save the outbox")
        return message

    return send


def read_remote(aws_url: str, message_id: str | None = None, timeout: float = 10.0) -> Any:
    """The outbox of a running stack (another process), from its ``/_tailorcast/outbox`` route:
    a list of :class:`OutboxMessage`, or one (None if there is no such message)."""
    import httpx

    url = f"{aws_url.rstrip('/')}/_tailorcast/outbox" + (f"/{message_id}" if message_id else "")
    response = httpx.get(url, timeout=timeout)
    if message_id and response.status_code == 404:
        return None
    response.raise_for_status()
    data = response.json()
    if message_id:
        return OutboxMessage(**data)
    return [OutboxMessage(**m) for m in data]
