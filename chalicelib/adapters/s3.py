"""S3 object store (boto3). Endpoints come from ``AWS_ENDPOINT_URL[_S3]`` in both worlds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlencode

from chalicelib.adapters.aws_errors import AwsFault, translate_aws_errors
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.ports import ObjectInfo, PresignedPost


def _missing(key: str) -> Callable[[AwsFault], NotFoundError]:
    return lambda _: NotFoundError("object", key)


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def presign_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost:
        """A browser-friendly POST policy pinned to one key, one content type and a size range.

        AWS enforces these conditions; the local emulator does not, which is why the S3 event
        task checks the stored size again.
        """
        with translate_aws_errors("s3.presign_post", "could not prepare the upload"):
            post = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=expires_in,
            )
        return PresignedPost(url=post["url"], fields=post["fields"], expires_in=expires_in)

    def head(self, key: str) -> ObjectInfo:
        with translate_aws_errors("s3.head_object", "could not read the upload", not_found=_missing(key)):
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(key=key, size=int(head["ContentLength"]), content_type=head.get("ContentType"))

    def download(self, key: str, dest: Path) -> Path:
        with translate_aws_errors("s3.download_file", "could not read the upload"):
            self._s3.download_file(self.bucket, key, str(dest))
        return dest

    def read_prefix(self, key: str, max_bytes: int) -> bytes:
        with translate_aws_errors("s3.get_object", "could not read the upload"):
            obj = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        data: bytes = obj["Body"].read()
        return data

    def open_stream(self, key: str) -> BinaryIO:
        """The object's body as botocore streams it (a file-like ``StreamingBody``)."""
        with translate_aws_errors("s3.get_object", "could not read the upload", not_found=_missing(key)):
            obj = self._s3.get_object(Bucket=self.bucket, Key=key)
        return cast(BinaryIO, obj["Body"])

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        with translate_aws_errors("s3.delete_objects", "could not delete the stored media"):
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        return deleted

    def get_bytes(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if first is not None:
            kwargs["Range"] = f"bytes={first}-{'' if last is None else last}"
        with translate_aws_errors("s3.get_object", "could not read a media object", not_found=_missing(key)):
            obj = self._s3.get_object(**kwargs)
        data: bytes = obj["Body"].read()
        return data

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with translate_aws_errors("s3.put_object", "could not store a media object"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def copy(self, source_key: str, key: str) -> None:
        with translate_aws_errors(
            "s3.copy_object", "could not copy a media object", not_found=_missing(source_key)
        ):
            self._s3.copy_object(
                Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source_key}
            )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        with translate_aws_errors("s3.presign_get", "could not prepare the download"):
            url: str = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url


# --------------------------------------------------------------------------- the lapsed retention tag

#: What a copy onto itself keeps from the object (with its user metadata).
_KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


class S3MediaTagger:
    """:class:`~chalicelib.domain.ports.MediaTagger` on the media bucket.

    Tagging copies the object onto itself with the tag (``CopyObject``, ``TaggingDirective=REPLACE``),
    its metadata and headers carried over (``MetadataDirective=REPLACE`` with the object's own: S3
    refuses a copy onto itself that changes nothing else): the copy is a new object, so the
    lifecycle rule's 730 days count from the lapse, not from the render (``PutObjectTagging``
    alone would let media older than 2 years go at the next lifecycle run). Removing the tag is
    ``DeleteObjectTagging`` (``PutObjectTagging`` with the other tags, if it has any; the age no
    longer matters). Both read the
    tags first and leave an object that already is as wanted alone (the task is idempotent).
    A media object is far below ``CopyObject``'s 5 GB limit (segments, posters, downloads).
    """

    def __init__(self, client: Any, bucket: str, tag: tuple[str, str] = ("lapsed", "true")) -> None:
        self._s3 = client
        self.bucket = bucket
        self._tag = tag

    def keys(self, prefix: str, start_after: str | None, limit: int) -> list[str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": limit}
        if start_after:
            kwargs["StartAfter"] = start_after
        with translate_aws_errors("s3.list_objects_v2", "could not list the account's media"):
            page = self._s3.list_objects_v2(**kwargs)
        return [str(o["Key"]) for o in page.get("Contents", [])]

    def set_lapsed(self, key: str, lapsed: bool) -> bool:
        name, value = self._tag
        gone = ("NoSuchKey", "404", "NotFound")
        with translate_aws_errors(
            "s3.get_object_tagging", "could not read a media object's tags", tolerate=gone
        ) as call:
            tags = self._s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        if call.tolerated is not None:
            return False  # deleted since it was listed
        others = [t for t in tags if t["Key"] != name]
        tagged = any(t["Key"] == name and t["Value"] == value for t in tags)
        if (lapsed and tagged) or (not lapsed and len(others) == len(tags)):
            return False
        if not lapsed:
            with translate_aws_errors(
                "s3.put_object_tagging", "could not untag a media object", tolerate=gone
            ):
                if others:
                    self._s3.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": others})
                else:
                    self._s3.delete_object_tagging(Bucket=self.bucket, Key=key)
            return True
        with translate_aws_errors("s3.head_object", "could not read a media object", tolerate=gone) as call:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        if call.tolerated is not None:
            return False
        tagging = urlencode([(t["Key"], t["Value"]) for t in others] + [(name, value)])
        kept = {h: head[h] for h in _KEPT_HEADERS if head.get(h)}
        with translate_aws_errors("s3.copy_object", "could not tag a media object", tolerate=gone):
            self._s3.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
                Metadata=head.get("Metadata") or {},
                TaggingDirective="REPLACE",
                Tagging=tagging,
                **kept,
            )
        return True
