"""Upload rules: what may be uploaded, where it lands, and whether a probed video is acceptable.

Pure functions; the S3 event task feeds them what the object store and the media probe found.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chalicelib.domain.errors import FieldIssue, InvalidInputError, UploadRejectedError
from chalicelib.domain.models import UploadKind, VideoProbe

#: Containers phones and Loom-style recorders produce (normalized names from the probe).
ALLOWED_CONTAINERS = frozenset({"mp4", "mov", "avi", "webm", "mkv"})
#: Video codecs (FFmpeg codec names) the media engine can ingest.
ALLOWED_VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})

VIDEO_CONTENT_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/x-msvideo",
        "video/avi",
        "video/webm",
        "video/x-matroska",
    }
)
#: A voice sample: any recording, audio only or a video (its sound is used).
RECORDING_CONTENT_TYPES = VIDEO_CONTENT_TYPES | frozenset(
    {
        "audio/mpeg",
        "audio/mp4",
        "audio/x-m4a",
        "audio/aac",
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/webm",
        "audio/ogg",
        "audio/flac",
    }
)
#: A voice sample is a minute or two of speech, far below a base video's limit.
MAX_VOICE_SAMPLE_BYTES = 25 * 1024 * 1024
CSV_CONTENT_TYPES = frozenset(
    {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "text/tab-separated-values"}
)

UPLOAD_PREFIX = "uploads"
_KEY_RE = re.compile(
    r"^uploads/(?P<account_id>acct_[0-9a-z]{26})/(?P<campaign_id>camp_[0-9a-z]{26})/"
    r"(?P<kind>base_video|prospects_csv|voice_sample)/(?P<upload_id>upl_[0-9a-z]{26})/(?P<filename>[^/]{1,255})$"
)


@dataclass(frozen=True)
class UploadKey:
    """Where an upload lives in the uploads bucket; the key carries its tenant and campaign."""

    account_id: str
    campaign_id: str
    kind: UploadKind
    upload_id: str
    filename: str

    @property
    def key(self) -> str:
        return (
            f"{UPLOAD_PREFIX}/{self.account_id}/{self.campaign_id}/{self.kind.value}/"
            f"{self.upload_id}/{self.filename}"
        )

    @classmethod
    def parse(cls, key: str) -> UploadKey:
        """Parse an object key written by :meth:`key`.

        Raises
        ------
        InvalidInputError
            If the key is not one Tailorcast issued.
        """
        match = _KEY_RE.match(key)
        if not match:
            raise InvalidInputError(f"not a Tailorcast upload key: {key!r}")
        return cls(
            account_id=match["account_id"],
            campaign_id=match["campaign_id"],
            kind=UploadKind(match["kind"]),
            upload_id=match["upload_id"],
            filename=match["filename"],
        )


def safe_filename(name: str) -> str:
    """Reduce a user-supplied filename to a safe, readable S3 key segment.

    Raises
    ------
    InvalidInputError
        If nothing usable is left (e.g. the name was only punctuation).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip(".-")[:120]
    if not cleaned:
        raise InvalidInputError(
            "filename has no usable characters",
            [FieldIssue("body.filename", "must contain letters or digits")],
        )
    return cleaned


def check_declared_upload(
    kind: UploadKind, content_type: str, size_bytes: int, max_video_bytes: int, max_csv_bytes: int
) -> int:
    """Refuse an upload before issuing a URL when what the client declares already fails.

    Returns the size limit for ``kind``, which the presigned policy then enforces.

    Raises
    ------
    InvalidInputError
        Content type not allowed for the kind, or declared size over the limit.
    """
    issues: list[FieldIssue] = []
    if kind is UploadKind.BASE_VIDEO:
        allowed, limit = VIDEO_CONTENT_TYPES, max_video_bytes
    elif kind is UploadKind.VOICE_SAMPLE:
        allowed, limit = RECORDING_CONTENT_TYPES, MAX_VOICE_SAMPLE_BYTES
    else:
        allowed, limit = CSV_CONTENT_TYPES, max_csv_bytes
    if content_type.lower() not in allowed:
        issues.append(FieldIssue("body.content_type", f"must be one of {', '.join(sorted(allowed))}"))
    if size_bytes > limit:
        issues.append(FieldIssue("body.size_bytes", f"{size_bytes} bytes is over the {limit}-byte limit"))
    if issues:
        raise InvalidInputError("upload refused", issues)
    return limit


def check_stored_size(size_bytes: int, limit: int) -> None:
    """S3 may not enforce the presigned policy (moto does not), so check what actually arrived.

    Raises
    ------
    UploadRejectedError
        If the object is empty or over the limit.
    """
    if size_bytes == 0:
        raise UploadRejectedError("the file is empty")
    if size_bytes > limit:
        raise UploadRejectedError(f"the file is {_mb(size_bytes)}, over the {_mb(limit)} limit")


def check_video(probe: VideoProbe, max_seconds: float) -> None:
    """Accept or reject a probed base video.

    Raises
    ------
    UploadRejectedError
        Unsupported container or codec, or longer than ``max_seconds``.
    """
    if probe.container not in ALLOWED_CONTAINERS:
        raise UploadRejectedError(
            f"{probe.container} files are not supported; upload MP4, MOV, AVI, WebM or MKV"
        )
    if probe.video_codec not in ALLOWED_VIDEO_CODECS:
        raise UploadRejectedError(
            f"{probe.video_codec} video is not supported; use H.264, H.265, VP8, VP9 or AV1"
        )
    if probe.audio_codec is None:
        raise UploadRejectedError("the video has no sound; Tailorcast personalizes what you say in it")
    if probe.duration_seconds > max_seconds:
        raise UploadRejectedError(
            f"the video is {probe.duration_seconds:.0f} s long, over the {max_seconds:.0f} s limit"
        )


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_text(head: bytes) -> None:
    """A CSV must be text: reject binaries (spreadsheets, images) early with a useful hint.

    UTF-16 exports carry NUL bytes legitimately, so a BOM-marked UTF-16 file passes.

    Raises
    ------
    UploadRejectedError
        If the first bytes look binary.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return
    if head.startswith(b"PK\x03\x04"):
        raise UploadRejectedError("this is an Excel/zip file; export the sheet as CSV and upload that")
    if b"\x00" in head:
        raise UploadRejectedError("this is not a text CSV file")
