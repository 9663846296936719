"""Secrets we store but must use again, sealed with KMS (moto's KMS in the local stack).

A sealed value is ``kms1:`` and the base64 of KMS's ciphertext blob; the blob names its key, and
the encryption context given to :meth:`KmsSecretSealer.seal` must be given again to open it (KMS
authenticates it; CloudTrail logs it with every use of the key).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.aws_errors import RETRY_AFTER, AwsFault, Fault, translate_aws_errors
from chalicelib.domain.errors import ConfigurationError, StorageError, ThrottledError

logger = logging.getLogger(__name__)

PREFIX = "kms1:"
#: KMS's answers that no retry fixes: the key is missing, disabled, or not ours to use.
_MISCONFIGURED = frozenset(
    {"NotFoundException", "DisabledException", "KMSInvalidStateException", "AccessDeniedException"}
)


class KmsSecretSealer:
    """:class:`~chalicelib.domain.ports.SecretSealer` on one KMS key (symmetric, ``SYMMETRIC_DEFAULT``).

    Parameters
    ----------
    client
        A boto3 ``kms`` client.
    key_id
        The key's ARN, id or alias (``alias/…``). Opening also names it, so a blob sealed under
        another key is refused rather than decrypted with whatever key it names.
    """

    def __init__(self, client: Any, key_id: str) -> None:
        self._kms = client
        self._key_id = key_id

    def seal(self, plaintext: str, context: Mapping[str, str]) -> str:
        """Encrypt ``plaintext`` under the key, bound to ``context``.

        Raises
        ------
        ConfigurationError
            The key is missing, disabled, or this function may not use it.
        StorageError
            KMS refused or could not be reached.
        """
        with translate_aws_errors("kms.encrypt", "", otherwise=self._failed("sealed")):
            blob = self._kms.encrypt(
                KeyId=self._key_id, Plaintext=plaintext.encode(), EncryptionContext=dict(context)
            )["CiphertextBlob"]
        return PREFIX + base64.b64encode(blob).decode()

    def open(self, sealed: str, context: Mapping[str, str]) -> str:
        """Decrypt what :meth:`seal` returned, under the same ``context``.

        Raises
        ------
        StorageError
            Not a value this sealer made, sealed under another key or context, or tampered with
            (``InvalidCiphertextException``); or KMS refused or could not be reached
            (``ConfigurationError``: the key is missing, disabled, or not ours to use).
        """
        if not sealed.startswith(PREFIX):
            raise StorageError("the stored secret is not in a sealed form this service knows")
        try:
            blob = base64.b64decode(sealed[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StorageError("the stored secret is not in a sealed form this service knows") from exc
        with translate_aws_errors("kms.decrypt", "", otherwise=self._failed("opened")):
            plaintext: bytes = self._kms.decrypt(
                CiphertextBlob=blob, KeyId=self._key_id, EncryptionContext=dict(context)
            )["Plaintext"]
        return plaintext.decode()

    def _failed(self, what: str) -> Callable[[AwsFault], StorageError]:
        """KMS's faults as this sealer has always reported them (the retryable ones keep
        ``retry_after``, so the API answers 503 with ``Retry-After``)."""

        def error(fault: AwsFault) -> StorageError:
            logger.error(
                "a secret could not be %s with KMS", what, extra={"kms_key": self._key_id, "code": fault.code}
            )
            if fault.code in _MISCONFIGURED or fault.kind is Fault.DENIED:
                return ConfigurationError(
                    f"a stored secret could not be {what}: the encryption key is unavailable"
                )
            if fault.code == "InvalidCiphertextException":
                return StorageError(f"a stored secret could not be {what}: it is not valid for this item")
            again = f"a stored secret could not be {what}; try again shortly"
            if fault.kind is Fault.THROTTLED:
                return ThrottledError(again, retry_after=RETRY_AFTER["throttled"])
            return StorageError(again, RETRY_AFTER[fault.kind.value] if fault.retryable else None)

        return error
