"""The watch page's view model: everything the HTML template shows, already resolved.

Built by ``domain/watch.py`` from a prospect, its campaign and its current render; rendered by
``chalicelib/web``. Text is plain (the template escapes it); URLs are absolute http(s).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Seller(BaseModel):
    name: str
    avatar_url: str | None = None

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p[:1].isalnum()]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class CallToAction(BaseModel):
    label: str
    url: str


class Rendition(BaseModel):
    """One rung of the ladder, as the quality menu lists it (``720p``)."""

    label: str
    height: int


class PlayerVideo(BaseModel):
    master_url: str  # the prospect's multivariant playlist (behind the signed cookies)
    poster_url: str | None = None
    duration: float = Field(gt=0)
    renditions: list[Rendition] = Field(default_factory=list)


class OpenGraph(BaseModel):
    title: str
    description: str
    url: str  # the watch page's own URL
    image: str | None = None  # the poster (public, so link unfurlers can fetch it)
    image_width: int | None = None
    image_height: int | None = None


class Brand(BaseModel):
    """The account's branding as the page shows it (issue 18): all defaults (no logo, the
    product's colour, the badge) unless the account's plan includes branding."""

    logo_url: str | None = None
    accent: str | None = Field(default=None, pattern=r"^#[0-9a-f]{6}$")  # the CTA's colour
    accent_dark: str | None = Field(default=None, pattern=r"^#[0-9a-f]{6}$")  # its hover shade
    show_badge: bool = True  # "made with Tailorcast"


class WatchPage(BaseModel):
    title: str  # <title>
    headline: str  # the campaign's headline with {first_name}/{company} filled in
    prospect_first_name: str
    seller: Seller
    cta: CallToAction | None = None
    video: PlayerVideo
    beacon_url: str  # POST target of the player's engagement beacons
    session: str  # signed session token the beacons carry back
    og: OpenGraph
    brand: Brand = Field(default_factory=Brand)
