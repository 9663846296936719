"""S3 object store (boto3). Endpoints come from ``AWS_ENDPOINT_URL[_S3]`` in both worlds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

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
