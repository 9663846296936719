"""MediaConvert through boto3. The endpoint comes from ``AWS_ENDPOINT_URL_MEDIACONVERT`` (the
local stand-in) or, in AWS, from the regional endpoint botocore resolves; nothing else differs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.adapters.aws_errors import AwsFault, translate_aws_errors
from chalicelib.domain.media.jobs import JobRequest
from chalicelib.domain.ports import JobStatus


class MediaConvertJobs:
    def __init__(self, client: Any) -> None:
        self._mc = client

    def submit(self, request: JobRequest) -> str:
        with translate_aws_errors(
            "mediaconvert.create_job",
            lambda fault: f"MediaConvert refused the job: {fault.detail}",
            throttled=lambda fault: f"MediaConvert is throttling job submissions: {fault.message}",
            unreachable=_unreachable(lambda fault: f"MediaConvert refused the job: {fault.detail}"),
        ):
            job = self._mc.create_job(**request.kwargs())["Job"]
        job_id: str = job["Id"]
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        with translate_aws_errors(
            "mediaconvert.get_job",
            "MediaConvert could not report the job",
            tolerate=("NotFoundException", "NotFound", "404"),
            unreachable=_unreachable(lambda _: "MediaConvert could not report the job"),
        ) as call:
            job = self._mc.get_job(Id=job_id)["Job"]
        if call.tolerated:
            return None
        return JobStatus(
            status=job["Status"],
            percent=job.get("JobPercentComplete"),
            error_code=job.get("ErrorCode"),
            error_message=job.get("ErrorMessage"),
        )


def _unreachable(answered: Callable[[AwsFault], str]) -> Callable[[AwsFault], str]:
    """The message for a transient fault: a 5xx is MediaConvert answering, anything else is the
    network between us (as before the translation moved to one place)."""
    return lambda fault: answered(fault) if fault.status is not None else "MediaConvert could not be reached"
