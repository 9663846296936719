"""Step Functions through boto3: the render state machine, and task-token callbacks."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StorageError
from chalicelib.domain.models import RenderBatch

logger = logging.getLogger(__name__)

#: A token whose task has finished, timed out or whose execution stopped answers with these.
DEAD_TOKEN_ERRORS = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")
#: Step Functions caps ``error`` at 256 characters and ``cause`` at 32,768.
MAX_ERROR, MAX_CAUSE = 256, 32768


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class StepFunctionsOrchestrator:
    """Starts, stops and reads executions of the render state machine."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def start(self, batch: RenderBatch, attempt: int) -> str:
        # Named after the batch and attempt: starting the same one twice is the same execution.
        name = f"{batch.batch_id}-{attempt}"
        payload = {
            "account_id": batch.account_id,
            "campaign_id": batch.campaign_id,
            "batch_id": batch.batch_id,
        }
        try:
            arn: str = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )["executionArn"]
        except ClientError as exc:
            if _code(exc) == "ExecutionAlreadyExists":
                return self._execution_arn(name)
            logger.exception("StartExecution refused")
            raise StorageError(
                f"the render could not start: {exc.response.get('Error', {}).get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError("Step Functions could not be reached") from exc
        return arn

    def _execution_arn(self, name: str) -> str:
        return f"{self._arn.replace(':stateMachine:', ':execution:')}:{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self._sfn.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause[:MAX_CAUSE])
        except ClientError as exc:
            if _code(exc) not in ("ExecutionDoesNotExist", "ValidationException"):
                raise StorageError("the render could not be stopped") from exc
        except BotoCoreError as exc:
            raise StorageError("Step Functions could not be reached") from exc

    def status(self, execution_arn: str) -> str | None:
        try:
            found: str = self._sfn.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as exc:
            if _code(exc) == "ExecutionDoesNotExist":
                return None
            raise StorageError("Step Functions could not report the render") from exc
        except BotoCoreError as exc:
            raise StorageError("Step Functions could not be reached") from exc
        return found


class StepFunctionsCallbacks:
    """``SendTaskSuccess``/``SendTaskFailure`` for tasks waiting on a token."""

    def __init__(self, client: Any) -> None:
        self._sfn = client

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        return self._send(lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._send(
            lambda: self._sfn.send_task_failure(
                taskToken=token, error=error[:MAX_ERROR], cause=cause[:MAX_CAUSE]
            )
        )

    @staticmethod
    def _send(call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if _code(exc) in DEAD_TOKEN_ERRORS:
                return False
            logger.exception("task callback refused")
            raise StorageError("Step Functions refused the task callback") from exc
        except BotoCoreError as exc:
            raise StorageError("Step Functions could not be reached") from exc
        return True
