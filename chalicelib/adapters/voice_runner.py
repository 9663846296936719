"""The voice function, invoked through the Lambda API (moto's, dispatched in-process, locally).

The engines, models and DSP libraries are ~430 MB, over the 250 MB a zip Lambda may hold, so
they live in one container-image function (``layers/voice``). The API's functions call it by
name; domain errors come back as data and are raised again here, field issues and all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.adapters.aws_errors import translate_aws_errors
from chalicelib.domain.errors import StorageError, error_from_dict

logger = logging.getLogger(__name__)

_UNAVAILABLE = "the voice service is unavailable; try again shortly"


class LambdaVoiceRunner:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({**payload, "action": action, "raise_errors": False})
        with translate_aws_errors(f"lambda.invoke {self._function}", _UNAVAILABLE):
            response = self._client.invoke(
                FunctionName=self._function, InvocationType="RequestResponse", Payload=body
            )
            try:
                result = json.loads(response["Payload"].read() or b"null")
            except ValueError as exc:
                logger.exception("voice function %s answered with malformed JSON", self._function)
                raise StorageError(_UNAVAILABLE) from exc
        if response.get("FunctionError"):
            error = result if isinstance(result, dict) else {}
            logger.error("voice function %s failed: %s", action, str(error.get("errorMessage", ""))[:500])
            raise StorageError(f"the voice service failed while running '{action}'; try again shortly")
        if not isinstance(result, dict):
            raise StorageError(f"the voice service returned no result for '{action}'")
        if "error" in result:
            raise error_from_dict(result["error"])
        out: dict[str, Any] = result.get("result", {})
        return out

    def start(self, action: str, payload: dict[str, Any]) -> None:
        body = json.dumps({**payload, "action": action})
        with translate_aws_errors(f"lambda.invoke {self._function} (async)", _UNAVAILABLE):
            self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=body)
