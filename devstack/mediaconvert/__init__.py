"""A local stand-in for AWS Elemental MediaConvert's HTTP API; transcoding is an injected executor.

* ``server.py``: the REST-JSON API (CreateJob, GetJob, ListJobs, CancelJob …), jobs and their events;
* ``wire.py``: the wire JSON (location names, epoch seconds) to API-shaped dicts and back;
* ``plan.py``: which ``CreateJob`` settings are honoured, and the plan a job runs from;
* ``executor.py``: the ffmpeg executor (ladders and windows), reading and writing the local S3;
* ``outputs.py``: the input's probe, fMP4 boxes, renditions and HLS playlists.
"""

from __future__ import annotations

from devstack.mediaconvert.server import (
    Fault,
    JobContext,
    JobError,
    JobExecutor,
    MediaConvertStandIn,
    UnsupportedSettingsError,
)

__all__ = [
    "Fault",
    "JobContext",
    "JobError",
    "JobExecutor",
    "MediaConvertStandIn",
    "UnsupportedSettingsError",
]
