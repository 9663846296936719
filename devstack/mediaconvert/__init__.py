"""A local stand-in for AWS Elemental MediaConvert's HTTP API; transcoding is an injected executor."""

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
