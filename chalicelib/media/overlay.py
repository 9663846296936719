"""The prospect's name card: a lower-third panel with their name (and company) as a PNG overlay.

The card is drawn with Pillow and a bundled DejaVu Sans Bold (Lambda has no system fonts), on a
transparent canvas the size of the video frame, so the poster, the animated preview and any
burn-in can all composite the same PNG. Everything is sized from one unit, the frame height
(portrait frames use the height of their 16:9 crop, so the card does not swallow the picture),
which makes the card look the same from 360p to 1080p.

Text is laid out with Pillow's BASIC engine rather than libraqm: it is always available and its
output does not depend on which shaping libraries the runtime has, so the same input gives the
same bytes everywhere. It places precomposed glyphs only, so text is NFC-normalized first
(Nguyễn typed with combining marks becomes precomposed letters). DejaVu covers Latin, Greek,
Cyrillic and Vietnamese; it has no CJK glyphs, so a name such as 山田 renders as empty boxes.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path(__file__).parent / "fonts" / "DejaVuSans-Bold.ttf"

#: Frames smaller than this (either side) cannot hold a readable card.
MIN_FRAME_PX = 32
#: Card geometry, as fractions of the frame width...
_CARD_LEFT = 0.06
_CARD_RIGHT = 0.94
#: ...and of the height unit: the panel's height and the gap below it.
_CARD_HEIGHT = 0.17
_CARD_BOTTOM_MARGIN = 0.07
_CORNER_RADIUS = 0.18  # of the panel height
#: The text may use this share of the frame width (the panel's padding is the rest).
_TEXT_WIDTH = 0.80
#: Font sizes as fractions of the height unit; long text shrinks down to _MIN_SCALE of them.
_NAME_SIZE = 0.065
_SUBTITLE_SIZE = 0.04
_MIN_SCALE = 0.6
_MIN_FONT_PX = 6
_LINE_GAP = 0.15  # between name and subtitle, in name font sizes
_ELLIPSIS = "…"
_PANEL_RGBA = (12, 14, 20, 184)
_NAME_RGBA = (255, 255, 255, 255)
_SUBTITLE_RGBA = (220, 224, 232, 255)
#: The panel is drawn this many times larger and scaled down, to anti-alias its corners.
_SUPERSAMPLE = 3


def card_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The name card's pixel box ``(left, top, right, bottom)`` in a ``width``×``height`` frame.

    ``right``/``bottom`` are exclusive, as in Pillow's crop boxes. Everything outside is fully
    transparent in :func:`render_overlay`'s output.

    Raises
    ------
    ValueError
        If a side is smaller than ``MIN_FRAME_PX``.
    """
    _check_size(width, height)
    unit = _unit(width, height)
    bottom = height - round(unit * _CARD_BOTTOM_MARGIN)
    top = bottom - round(unit * _CARD_HEIGHT)
    return round(width * _CARD_LEFT), top, round(width * _CARD_RIGHT), bottom


def render_overlay(text: str, width: int, height: int, *, subtitle: str | None = None) -> bytes:
    """A ``width``×``height`` RGBA PNG, transparent but for the name card showing ``text``.

    Text too wide for the card shrinks (to 60 % of its normal size at most) and is then cut
    with an ellipsis. Runs of whitespace, newlines included, become single spaces; a blank
    ``subtitle`` is left out. The same arguments always give the same bytes.

    Raises
    ------
    ValueError
        If ``text`` is empty or blank, or the frame is smaller than ``MIN_FRAME_PX``.
    """
    name = _clean(text)
    if not name:
        raise ValueError("overlay text is empty")
    left, top, right, bottom = card_box(width, height)
    unit = _unit(width, height)
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(_panel(right - left, bottom - top), (left, top))

    max_width = round(width * _TEXT_WIDTH)
    name_font, name = _fit(name, unit * _NAME_SIZE, max_width)
    lines = [(name, name_font, _NAME_RGBA)]
    second = _clean(subtitle or "")
    if second:
        # Keeps its proportion to the name, so a shrunken name never sits above a larger line.
        sub_font, second = _fit(second, name_font.size * _SUBTITLE_SIZE / _NAME_SIZE, max_width)
        lines.append((second, sub_font, _SUBTITLE_RGBA))

    # Centre the block of lines vertically in the panel, using the fonts' full line heights so
    # the position does not depend on which letters the name has.
    gap = round(name_font.size * _LINE_GAP)
    heights = [sum(font.getmetrics()) for _, font, _ in lines]
    y = top + (bottom - top - sum(heights) - gap * (len(lines) - 1)) // 2
    text_layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(text_layer)
    x = left + (right - left - max_width) // 2
    for (line, font, colour), line_height in zip(lines, heights, strict=True):
        draw.text((x, y + font.getmetrics()[0]), line, font=font, fill=colour, anchor="ls")
        y += line_height + gap
    canvas = Image.alpha_composite(canvas, text_layer)

    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def _check_size(width: int, height: int) -> None:
    if width < MIN_FRAME_PX or height < MIN_FRAME_PX:
        raise ValueError(f"frame {width}x{height} is too small for a name card (min {MIN_FRAME_PX} px)")


def _unit(width: int, height: int) -> float:
    return min(height, width * 9 / 16)


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _panel(width: int, height: int) -> Image.Image:
    big = (width * _SUPERSAMPLE, height * _SUPERSAMPLE)
    mask = Image.new("L", big, 0)
    radius = round(height * _CORNER_RADIUS * _SUPERSAMPLE)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, big[0] - 1, big[1] - 1), radius=radius, fill=255)
    mask = mask.resize((width, height), Image.Resampling.BOX)
    panel = Image.new("RGBA", (width, height), _PANEL_RGBA)
    panel.putalpha(mask.point([v * _PANEL_RGBA[3] // 255 for v in range(256)]))
    return panel


def _fit(text: str, size: float, max_width: int) -> tuple[ImageFont.FreeTypeFont, str]:
    """The largest font (down to the minimum scale) that fits ``text``; else ellipsize it."""
    largest = max(_MIN_FONT_PX, round(size))
    smallest = max(_MIN_FONT_PX, round(size * _MIN_SCALE))
    for px in range(largest, smallest - 1, -1):
        font = _font(px)
        if font.getlength(text) <= max_width:
            return font, text
    # Longest prefix that fits with the ellipsis (binary search; width grows with length).
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(text[:mid].rstrip() + _ELLIPSIS) <= max_width:
            low = mid
        else:
            high = mid - 1
    return font, text[:low].rstrip() + _ELLIPSIS


@functools.lru_cache(maxsize=64)
def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), px, layout_engine=ImageFont.Layout.BASIC)
