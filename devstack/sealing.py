"""The local stand-in for the customer-managed KMS key that seals secrets stored in the table.

In AWS, CDK creates the key and KMS keeps its material. Locally the key lives in moto's KMS,
reached by the app with the same boto3 ``kms`` calls as in the cloud. moto keeps nothing across a
restart while the table (and the secrets sealed in it) does, so the key's id and its 256-bit
material are made once, in ``{state_dir}/kms/sealing-key.json`` (0600), and put back into moto's
KMS at every start, under the alias the app is configured with.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

from devstack.private import private_dir, write_private


class SealingKey:
    """The key in ``directory`` (made on first use, then reused)."""

    def __init__(self, directory: Path) -> None:
        self.path = private_dir(directory) / "sealing-key.json"
        if not self.path.exists():
            material = base64.b64encode(secrets.token_bytes(32)).decode()
            write_private(self.path, json.dumps({"key_id": str(uuid.uuid4()), "material": material}))
        data = json.loads(self.path.read_text())
        self.key_id: str = data["key_id"]
        self._material = base64.b64decode(data["material"])

    def install(self, kms: Any, alias: str, account_id: str, region: str) -> str:
        """Put the key into moto's KMS (moto runs in this process) and point ``alias`` at it.

        ``kms`` is a boto3 client of that moto; returns the key's ARN.
        """
        from moto.kms.models import kms_backends

        backend = kms_backends[account_id][region]
        if self.key_id not in backend.keys:
            # moto makes a key with an id and material of its own: give it ours.
            created = kms.create_key(
                Description="Tailorcast (local): seals secrets stored in the table",
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
            )["KeyMetadata"]["KeyId"]
            key = backend.keys.pop(created)
            key.id = self.key_id
            key.arn = f"arn:aws:kms:{region}:{account_id}:key/{self.key_id}"
            backend.keys[self.key_id] = key
        key = backend.keys[self.key_id]
        key.key_material = self._material
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=self.key_id)
        except kms.exceptions.AlreadyExistsException:
            kms.update_alias(AliasName=alias, TargetKeyId=self.key_id)
        return str(key.arn)
