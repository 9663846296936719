"""ImageNormalizer on Pillow: decode an uploaded image in full, then store our own re-encoding.

Nothing of the upload is kept but its pixels: metadata (EXIF, GPS, ICC text chunks) is dropped,
the EXIF orientation is applied, animation is reduced to its first frame, and the result is
scaled down to the rules' box. Pillow is imported on first use (only these routes pay for it).
"""

from __future__ import annotations

import io
import warnings

from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.images import IMAGE_FORMATS, ImageRules, NormalizedImage, check_dimensions, fit


class PillowImageNormalizer:
    """:class:`~chalicelib.domain.ports.ImageNormalizer` with Pillow."""

    def normalize(self, data: bytes, rules: ImageRules) -> NormalizedImage:
        """Decode ``data`` and re-encode it by ``rules``.

        Raises
        ------
        InvalidInputError
            Not a PNG, JPEG or WebP image, truncated or undecodable, or outside the size bounds;
            the issue names ``rules.field``.
        """
        from PIL import Image, ImageOps, UnidentifiedImageError

        def refuse(message: str) -> InvalidInputError:
            return InvalidInputError(
                f"the {rules.field} is not a usable image", [FieldIssue(rules.field, message)]
            )

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=sorted(IMAGE_FORMATS))
                # The header's size, checked before a single pixel is decoded.
                check_dimensions(image.width, image.height, rules)
                image.load()  # decodes every byte: a truncated or corrupt file fails here
        except InvalidInputError:
            raise
        except UnidentifiedImageError as exc:
            raise refuse("must be a PNG, JPEG or WebP image") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise refuse(f"too many pixels; at most {rules.max_side} px on each side") from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise refuse("the file is damaged or truncated and could not be decoded") from exc

        upright: Image.Image = ImageOps.exif_transpose(image) or image
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        pixels = upright.convert("RGBA" if has_alpha else "RGB")
        size = fit(pixels.width, pixels.height, rules.box)
        if size != pixels.size:
            pixels = pixels.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if rules.output == "PNG":
            pixels.save(out, format="PNG", optimize=True)
        else:
            pixels.save(out, format="WEBP", quality=85, method=4)
        return NormalizedImage(
            data=out.getvalue(), content_type=rules.content_type, width=pixels.width, height=pixels.height
        )
