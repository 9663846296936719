"""Images a seller uploads (an avatar, a watch-page logo): what is accepted and how it is stored.

The rules are data (:class:`ImageRules`); decoding and re-encoding is the ``ImageNormalizer``
port's job (Pillow, in ``adapters/images.py``): an image is decoded in full, never trusted by its
name or declared type, and stored re-encoded, so what viewers load is an image we wrote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chalicelib.domain.errors import FieldIssue, InvalidInputError, PayloadTooLargeError

MiB = 1024 * 1024
#: What may be uploaded (the decoded format, whatever the request said).
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})


@dataclass(frozen=True)
class ImageRules:
    """Limits for one kind of image.

    ``field`` names the input in errors; ``max_side`` bounds the decoded image (a decompression
    bomb is refused before its pixels are decoded); ``box`` is the largest size stored (bigger
    images are scaled down to fit, keeping their shape); ``output`` is the stored format.
    """

    field: str
    box: tuple[int, int]
    output: str  # "PNG" or "WEBP"
    max_bytes: int = 5 * MiB
    min_side: int = 16
    max_side: int = 8000

    @property
    def content_type(self) -> str:
        return f"image/{self.output.lower()}"

    @property
    def extension(self) -> str:
        return self.output.lower()


#: A person's picture: square-ish, shown at 48 px (96 on high-density screens) and in the console.
AVATAR = ImageRules(field="avatar", box=(512, 512), output="WEBP")
#: A company logo: wide, shown up to 40 px high on the watch page; PNG keeps its edges crisp.
LOGO = ImageRules(field="logo", box=(1200, 400), output="PNG")


@dataclass(frozen=True)
class NormalizedImage:
    """An image as stored: re-encoded bytes in ``rules.output`` format, and its size."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def digest(self) -> str:
        """A short content hash: stored keys change when the image does (the CDN caches them forever)."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def check_upload(data: bytes, rules: ImageRules) -> None:
    """Refuse an empty or oversized upload before decoding anything.

    Raises
    ------
    PayloadTooLargeError
        Over ``rules.max_bytes``.
    InvalidInputError
        Empty.
    """
    if not data:
        raise InvalidInputError(
            "no image was sent", [FieldIssue(rules.field, "send the image file as the body")]
        )
    if len(data) > rules.max_bytes:
        raise PayloadTooLargeError(
            f"the {rules.field} is {len(data) / MiB:.1f} MB, over the {rules.max_bytes // MiB} MB limit"
        )


def check_dimensions(width: int, height: int, rules: ImageRules) -> None:
    """Refuse an image too small to show or too large to decode safely.

    Raises
    ------
    InvalidInputError
        Naming ``rules.field``.
    """
    if min(width, height) < rules.min_side:
        raise InvalidInputError(
            f"the {rules.field} is too small",
            [FieldIssue(rules.field, f"{width}x{height} px; at least {rules.min_side} px on each side")],
        )
    if max(width, height) > rules.max_side:
        raise InvalidInputError(
            f"the {rules.field} is too large",
            [FieldIssue(rules.field, f"{width}x{height} px; at most {rules.max_side} px on each side")],
        )


def fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The size an image is stored at: scaled down (never up) to fit ``box``, keeping its shape."""
    scale = min(1.0, box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))
