"""Sample media for the local stack and the tests, made with the ffmpeg that imageio-ffmpeg ships.

Everything is synthesized from FFmpeg's ``lavfi`` sources (a test pattern and a sine tone), so no
network and no checked-in binaries are needed. Output is deterministic for a given ffmpeg build:
encoders run single-threaded (x264 and libvpx output depends on the thread count, which would
otherwise follow the machine's core count) and muxers run in bitexact mode (no build strings or
creation times).

Never deployed: ``devstack`` is the local emulation package.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg

#: Per-encoder options that trade quality for speed; samples only need to be valid, not pretty.
_FAST_ENCODER_ARGS: dict[str, tuple[str, ...]] = {
    "libx264": ("-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    "libx265": ("-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"),
    "libvpx": ("-deadline", "realtime", "-cpu-used", "8"),
    "libvpx-vp9": ("-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"),
    "libaom-av1": ("-usage", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"),
    "libsvtav1": ("-preset", "11", "-pix_fmt", "yuv420p", "-svtav1-params", "lp=1"),
}
_BITEXACT = ("-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact")
_AUDIO_RATE = 48_000


class SampleError(RuntimeError):
    """ffmpeg could not make the requested sample (the message carries ffmpeg's stderr)."""


def ffmpeg_exe() -> str:
    """Path of the static ffmpeg binary bundled with imageio-ffmpeg."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def available_encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg build has (``ffmpeg -encoders``), e.g. ``libsvtav1``.

    Raises
    ------
    SampleError
        If ffmpeg cannot be run.
    """
    listing = _run(["-encoders"])
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        # Rows look like " V....D libx264   libx264 H.264 ..."; the legend above them has no
        # six-character capability column, so it is skipped by the shape check.
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


def make_video(
    dest: Path,
    *,
    seconds: float = 2.0,
    width: int = 160,
    height: int = 120,
    fps: int = 25,
    vcodec: str = "libx264",
    acodec: str | None = "aac",
    output_args: Sequence[str] = (),
    rotation: int | None = None,
    vfr: bool = False,
) -> Path:
    """Encode a test-pattern video (with a 440 Hz tone unless ``acodec`` is None) into ``dest``.

    The container follows ``dest``'s suffix unless ``output_args`` names one (``-f mov``).

    Parameters
    ----------
    dest
        Output file; its parent must exist.
    seconds, width, height, fps
        Length, stored frame size and nominal frame rate.
    vcodec, acodec
        FFmpeg encoder names (``libx264``, ``libvpx-vp9``, ``libsvtav1``, ``aac``, ``libopus``...).
    output_args
        Extra output options, e.g. ``("-movflags", "+faststart")``.
    rotation
        Degrees clockwise a player should turn the picture (a portrait phone clip is 90); written
        as a display matrix, the frames themselves stay ``width`` x ``height``.
    vfr
        Drop every other frame in the second half, as phones do in low light, so the frame
        durations differ (the first half runs at ``fps``, the second at ``fps / 2``).

    Raises
    ------
    SampleError
        If ffmpeg fails (e.g. the build lacks the encoder).
    """
    args: list[str] = []
    if rotation is not None:
        # -display_rotation is counter-clockwise; -noautorotate keeps ffmpeg from turning the
        # pixels and dropping the matrix, which is what a phone's file looks like.
        args += ["-noautorotate", "-display_rotation", str(-rotation)]
    args += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if acodec is not None:
        args += ["-f", "lavfi", "-i", _tone(seconds)]
    if vfr:
        half = round(fps * seconds / 2)
        args += ["-vf", f"select='lt(n\\,{half})+not(mod(n\\,2))'", "-fps_mode", "vfr"]
    args += ["-c:v", vcodec, *_FAST_ENCODER_ARGS.get(vcodec, ())]
    if acodec is not None:
        args += ["-c:a", acodec]
    args += ["-threads", "1", *_BITEXACT, *output_args, "-y", str(dest)]
    _run(args)
    return dest


def make_base_video(
    dest: Path, seconds: float = 8.0, width: int = 1280, height: int = 720, audio: Path | None = None
) -> Path:
    """A seller's base video as the app expects it: H.264 + AAC MP4, moov up front, 30 fps, with
    speech-like sound (see :func:`speechlike`), or with ``audio`` (a real recording) as its sound.

    Raises
    ------
    SampleError
        If ffmpeg fails.
    """
    source = f"testsrc2=size={width}x{height}:rate=30:duration={seconds}"
    _run(
        [
            *("-f", "lavfi", "-i", source),
            *(("-i", str(audio)) if audio else ("-f", "lavfi", "-i", speechlike(seconds))),
            *("-c:v", "libx264", *_FAST_ENCODER_ARGS["libx264"], "-c:a", "aac", "-ac", "2", "-ar", "48000"),
            "-shortest",
            *("-threads", "1", *_BITEXACT, "-movflags", "+faststart", "-y", str(dest)),
        ]
    )
    return dest


def speechlike(seconds: float, pitch: float = 140.0) -> str:
    """A lavfi source that sounds like talking: a voiced harmonic series with a gliding pitch,
    shaped into ~4 syllables a second, with a breath pause every 3 s. Deterministic."""
    voice = "+".join(
        f"{amp}*sin(2*PI*{n}*({pitch}*t+8*sin(2*PI*0.7*t)))"
        for n, amp in ((1, 0.30), (2, 0.18), (3, 0.12), (5, 0.06))
    )
    envelope = "pow(abs(sin(2*PI*2.1*t)),1.5)*lt(mod(t,3),2.5)"
    return f"aevalsrc=exprs='({voice})*{envelope}':s={_AUDIO_RATE}:c=stereo:d={seconds}"


def make_audio(dest: Path, *, seconds: float = 2.0, acodec: str = "aac") -> Path:
    """An audio-only file (a tone), e.g. an ``.m4a`` a seller might pick by mistake.

    Raises
    ------
    SampleError
        If ffmpeg fails.
    """
    _run(["-f", "lavfi", "-i", _tone(seconds), "-c:a", acodec, *_BITEXACT, "-y", str(dest)])
    return dest


def make_still_image(dest: Path, *, width: int = 160, height: int = 120) -> Path:
    """One test-pattern frame as an image; the format follows ``dest``'s suffix (.png, .jpg).

    Raises
    ------
    SampleError
        If ffmpeg fails.
    """
    source = f"testsrc2=size={width}x{height}:rate=1:duration=1"
    _run(["-f", "lavfi", "-i", source, "-frames:v", "1", *_BITEXACT, "-y", str(dest)])
    return dest


def truncate_copy(src: Path, dest: Path, keep_fraction: float) -> Path:
    """Copy the first ``keep_fraction`` of ``src``'s bytes, as an interrupted upload leaves it.

    Raises
    ------
    ValueError
        If ``keep_fraction`` is not in (0, 1).
    """
    if not 0 < keep_fraction < 1:
        raise ValueError(f"keep_fraction must be between 0 and 1, got {keep_fraction}")
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep_fraction)])
    return dest


def _tone(seconds: float) -> str:
    return f"sine=frequency=440:sample_rate={_AUDIO_RATE}:duration={seconds}"


def _run(args: Sequence[str]) -> str:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SampleError(f"could not run ffmpeg: {exc}") from exc
    if done.returncode != 0:
        raise SampleError(f"ffmpeg {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def speech_wav(seconds: float, pitch: float = 180.0) -> bytes:
    """Speech-like sound as WAV bytes (16-bit, 48 kHz): a stand-in for a spoken name."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi"]
    cmd += ["-i", speechlike(seconds, pitch), "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"]
    done = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        raise SampleError(f"ffmpeg could not synthesize speech-like audio: {done.stderr.decode()[-500:]}")
    return done.stdout


#: The demo's prospects: (first, last, company, job title, pronunciation override). Names from
#: many languages, so the voice is heard at work on more than English; two carry a respelling.
SAMPLE_PROSPECTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Priya", "Raman", "Acme Analytics", "VP Sales", ""),
    ("Siobhan", "Kelly", "Globex", "Head of Growth", "shi-VAWN"),
    ("Mateo", "García", "Initech", "Sales Director", ""),
    ("Aisha", "Bello", "Umbrella Health", "RevOps Lead", ""),
    ("Lukas", "Schmidt", "Hooli", "Account Executive", ""),
    ("Mei", "Chen", "Soylent Foods", "CRO", ""),
    ("Oliver", "Brown", "Stark Logistics", "Founder", ""),
    ("Sofia", "Rossi", "Wayne Finance", "Marketing Manager", ""),
    ("Noah", "Cohen", "Vandelay Imports", "BDR Manager", ""),
    ("Amara", "Okafor", "Cyberdyne", "Partnerships", ""),
    ("Ethan", "Walker", "Tyrell Labs", "CEO", ""),
    ("Chloe", "Martin", "Gringotts", "Head of Sales", ""),
    ("Ravi", "Patel", "Pied Piper", "CTO", ""),
    ("Emma", "Johansson", "Nakatomi", "Demand Gen", ""),
    ("Ana", "Fernández", "Oscorp", "Sales Ops", ""),
    ("Hannah", "Müller", "Aperture", "VP Marketing", ""),
    ("Kenji", "Tanaka", "Monarch", "Country Manager", ""),
    ("Grace", "Lee", "Wonka Industries", "Enablement", ""),
    ("Liam", "O'Connor", "Dunder Mifflin", "Regional Manager", ""),
    ("Zara", "Ahmed", "Bluth Company", "COO", ""),
    ("Lucas", "Silva", "Massive Dynamic", "Head of SDRs", ""),
    ("Isla", "Campbell", "Prestige Worldwide", "Growth Lead", ""),
    ("Niamh", "Byrne", "Sterling Cooper", "Creative Director", "NEEV"),
    ("Omar", "Haddad", "Los Pollos", "Owner", ""),
    ("Julia", "Nowak", "Virtucon", "Procurement", ""),
)


def write_prospects_csv(dest: Path) -> Path:
    """The demo's prospects as a HubSpot-style contacts export (its header names, UTF-8)."""
    import csv

    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First Name", "Last Name", "Email", "Company Name", "Job Title", "Pronunciation"])
        for first, last, company, title, say in SAMPLE_PROSPECTS:
            local = "".join(c for c in f"{first}.{last}".lower() if c.isascii() and (c.isalnum() or c == "."))
            domain = "".join(c for c in company.lower() if c.isascii() and c.isalnum())
            writer.writerow([first, last, f"{local}@{domain}.example", company, title, say])
    return dest
