"""AWS services of the account's settings and jobs (issue 18, item 6).

* :class:`SesMailer`: transactional email with SES v2 ``SendEmail`` (moto's SES locally, which
  keeps every sent message: the local outbox);
* :class:`LambdaTaskStarter`: starts a task Lambda asynchronously (``InvocationType=Event``), as
  the API starts the voice function's long work;
* :class:`CognitoIdentityDirectory`: ``AdminDeleteUser`` on the user pool.

The Stripe subscription is cancelled by the billing adapter
(:class:`chalicelib.adapters.billing.StripeBilling`, the same client and secret as billing).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.adapters.aws_errors import translate_aws_errors
from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.ports import Email

logger = logging.getLogger(__name__)


class SesMailer:
    """:class:`~chalicelib.domain.ports.Mailer` over SES v2."""

    def __init__(self, client: Any, from_address: str) -> None:
        self._ses = client
        self._from = from_address

    def send(self, email: Email) -> str:
        with translate_aws_errors("sesv2.send_email", "the email could not be sent"):
            response = self._ses.send_email(
                FromEmailAddress=self._from,
                Destination={"ToAddresses": [email.to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                        "Body": {
                            "Text": {"Data": email.text, "Charset": "UTF-8"},
                            "Html": {"Data": email.html, "Charset": "UTF-8"},
                        },
                    }
                },
            )
        return str(response.get("MessageId", ""))


class LambdaTaskStarter:
    """:class:`~chalicelib.domain.ports.TaskStarter`: task name → deployed function name."""

    def __init__(self, client: Any, functions: dict[str, str]) -> None:
        self._client = client
        self._functions = functions

    def start(self, task: str, payload: dict[str, Any]) -> None:
        function = self._functions.get(task)
        if function is None:
            raise ConfigurationError(f"no function is configured for the task {task!r}")
        with translate_aws_errors(
            f"lambda.invoke {function} (async)", "the background job could not be started"
        ):
            self._client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(payload))


class CognitoIdentityDirectory:
    """:class:`~chalicelib.domain.ports.IdentityDirectory` on a Cognito user pool."""

    def __init__(self, client: Any, user_pool_id: str | None) -> None:
        self._client = client
        self._pool = user_pool_id

    def delete_user(self, subject: str, email: str) -> bool:
        if self._pool is None:
            return False  # no user pool in this deployment: logins are the local issuer's alone
        # Cognito takes the user's sub (or an alias such as the email) as the username.
        for username in (subject, email):
            with translate_aws_errors(
                "cognito-idp.admin_delete_user",
                "the login could not be deleted",
                tolerate=("UserNotFoundException",),
            ) as call:
                self._client.admin_delete_user(UserPoolId=self._pool, Username=username)
            if call.tolerated is None:
                return True
        return False
