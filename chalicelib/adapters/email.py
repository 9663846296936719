"""Transactional email through Amazon SES (moto's SES locally: the local outbox)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate


class SesMailer:
    """The :class:`~chalicelib.domain.ports.Mailer` port: plain-text email from ``sender`` (an SES
    identity: CDK verifies it in the cloud, the local stack in moto)."""

    def __init__(self, client: Any, sender: str) -> None:
        self._ses = client
        self._sender = sender

    def send(self, to: str, subject: str, body: str) -> str:
        try:
            reply = self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [to]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "ses.send_email", "the email could not be sent; try again shortly") from exc
        return str(reply["MessageId"])
