"""Step Functions through boto3: the render state machine, and task-token callbacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.aws_errors import AwsFault, translate_aws_errors
from chalicelib.domain.models import RenderBatch

#: A token whose task has finished, timed out or whose execution stopped answers with these.
DEAD_TOKEN_ERRORS = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")
#: Step Functions caps ``error`` at 256 characters and ``cause`` at 32,768.
MAX_ERROR, MAX_CAUSE = 256, 32768


def _start_refused(fault: AwsFault) -> str:
    return f"the render could not start: {fault.message}"


def _answered(message: Callable[[AwsFault], str] | str) -> Callable[[AwsFault], str]:
    """A transient fault's message: Step Functions answering (a 5xx), or not reached at all."""
    return lambda fault: (
        (message(fault) if callable(message) else message)
        if fault.status is not None
        else "Step Functions could not be reached"
    )


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
        with translate_aws_errors(
            "stepfunctions.start_execution",
            _start_refused,
            tolerate=("ExecutionAlreadyExists",),
            unreachable=_answered(_start_refused),
        ) as call:
            arn: str = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )["executionArn"]
        if call.tolerated:
            return self._execution_arn(name)
        return arn

    def _execution_arn(self, name: str) -> str:
        return f"{self._arn.replace(':stateMachine:', ':execution:')}:{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        with translate_aws_errors(
            "stepfunctions.stop_execution",
            "the render could not be stopped",
            tolerate=("ExecutionDoesNotExist", "ValidationException"),
            unreachable=_answered("the render could not be stopped"),
        ):
            self._sfn.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause[:MAX_CAUSE])

    def status(self, execution_arn: str) -> str | None:
        with translate_aws_errors(
            "stepfunctions.describe_execution",
            "Step Functions could not report the render",
            tolerate=("ExecutionDoesNotExist",),
            unreachable=_answered("Step Functions could not report the render"),
        ) as call:
            found: str = self._sfn.describe_execution(executionArn=execution_arn)["status"]
        return None if call.tolerated else found


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
        with translate_aws_errors(
            "stepfunctions.send_task_result",
            "Step Functions refused the task callback",
            tolerate=DEAD_TOKEN_ERRORS,
            unreachable=_answered("Step Functions refused the task callback"),
        ) as sent:
            call()
        return sent.tolerated is None
