"""MediaConvert through boto3. The endpoint comes from ``AWS_ENDPOINT_URL_MEDIACONVERT`` (the
local stand-in) or, in AWS, from the regional endpoint botocore resolves; nothing else differs."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StorageError, ThrottledError
from chalicelib.domain.ports import JobStatus
from chalicelib.media.jobs import JobRequest

logger = logging.getLogger(__name__)

#: What MediaConvert (and AWS generally) answers when it throttles a caller.
THROTTLING_CODES = ("TooManyRequestsException", "ThrottlingException", "Throttling")


class MediaConvertJobs:
    def __init__(self, client: Any) -> None:
        self._mc = client

    def submit(self, request: JobRequest) -> str:
        try:
            job = self._mc.create_job(**request.kwargs())["Job"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in THROTTLING_CODES:
                logger.warning("CreateJob throttled")
                raise ThrottledError(
                    f"MediaConvert is throttling job submissions: {error.get('Message')}"
                ) from exc
            logger.exception("CreateJob refused")
            raise StorageError(
                f"MediaConvert refused the job: {error.get('Message') or error.get('Code')}"
            ) from exc
        except BotoCoreError as exc:
            logger.exception("CreateJob failed")
            raise StorageError("MediaConvert could not be reached") from exc
        job_id: str = job["Id"]
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        try:
            job = self._mc.get_job(Id=job_id)["Job"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NotFoundException", "NotFound", "404"):
                return None
            logger.exception("GetJob failed")
            raise StorageError("MediaConvert could not report the job") from exc
        except BotoCoreError as exc:
            raise StorageError("MediaConvert could not be reached") from exc
        return JobStatus(
            status=job["Status"],
            percent=job.get("JobPercentComplete"),
            error_code=job.get("ErrorCode"),
            error_message=job.get("ErrorMessage"),
        )
