"""The local MediaConvert's engine: executes ``CreateJob`` settings with the ffmpeg binary.

It honours exactly the settings listed in :data:`~devstack.mediaconvert.plan.HONOURED` (what
Tailorcast's job builder emits, with the values it can reproduce); anything else is refused at
``CreateJob`` with the path of the offending setting, never silently ignored. The settings become
a :class:`~devstack.mediaconvert.plan.Plan` (``plan.py``); this module builds and runs the ffmpeg
commands; ``outputs.py`` probes the input and writes the renditions and playlists.

Three kinds of job: several inputs (or a ``VideoGenerator``) make a **stitched** job (below);
one input's are told apart by ``InputClippings``:

* **ladder** (no clipping): one ffmpeg process decodes the input once, ``split``s it into the
  video rungs and encodes the audio; each output is an fMP4 HLS rendition with 2 s segments.
* **window** (clipped to whole segments): the segments of the clip are re-encoded so that they
  replace the ladder's one for one. Video is re-encoded from the clip start (which is a segment
  start, hence a keyframe) with the same encoder settings and the image inserter's overlay.
  Audio must land on the ladder's AAC frame grid: the source audio is decoded exactly as the
  ladder decoded it, the external audio is laid over it at the selector's offset, the encoder is
  primed with two frames of what precedes the first segment, and the packets of each audio
  segment are cut out by timestamp (``noise`` bitstream filter) into their own fragment whose
  decode time is absolute (``frag_discont``). The result uses the ladder's own init segment.
* **stitched** (inputs played one after another, as MediaConvert stitches a job's inputs): files
  clipped with ``InputClippings`` and still-image generators, concatenated frame-exactly on the
  first clip's timeline (a segment start), re-encoded into every video output; the sound is each
  input's (its file's audio under its external file, a generator's silence under its own) cut on
  the AAC grid of that timeline exactly as a window's. A grown window (issue 17) is one.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.domain.media.ladder import AAC_FRAME_SAMPLES, audio_segment_start, parse_timecode
from devstack.mediaconvert.outputs import (
    Rendition,
    SourceInfo,
    codec_string,
    collect_renditions,
    probe_source,
    split_fragments,
    write_master,
    write_rendition,
)
from devstack.mediaconvert.plan import (
    HONOURED,
    AudioOut,
    Image,
    PcmOut,
    Plan,
    VideoOut,
    check_honoured,
    plan_job,
)
from devstack.mediaconvert.server import JobContext, JobError, UnsupportedSettingsError

__all__ = [
    "HONOURED",
    "AudioOut",
    "FfmpegExecutor",
    "Image",
    "PcmOut",
    "Plan",
    "Rendition",
    "SourceInfo",
    "UnsupportedSettingsError",
    "VideoOut",
    "check_honoured",
    "codec_string",
    "collect_renditions",
    "plan_job",
    "probe_source",
    "split_fragments",
    "write_master",
    "write_rendition",
]

# --------------------------------------------------------------------------- the executor

S3Factory = Callable[[], Any]
_OUT_TIME = re.compile(r"out_time_us=(\d+)")


class FfmpegExecutor:
    """A :class:`~devstack.mediaconvert.server.JobExecutor` backed by ffmpeg and the local S3."""

    def __init__(self, s3: S3Factory, ffmpeg: str | None = None, preset: str = "veryfast") -> None:
        if ffmpeg is None:
            import imageio_ffmpeg

            ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        self.ffmpeg = ffmpeg
        self.preset = preset
        self._s3_factory = s3
        self._s3_client: Any = None
        self._cache = Path(tempfile.mkdtemp(prefix="mc-inputs-"))
        self._cache_lock = threading.Lock()

    def _s3(self) -> Any:
        """One S3 client for every job (boto3 clients are thread-safe, and costly to create)."""
        if self._s3_client is None:
            self._s3_client = self._s3_factory()
        return self._s3_client

    # JobExecutor -----------------------------------------------------------------------

    def validate(self, settings: dict[str, Any]) -> None:
        plan_job(settings)

    def run(self, job: JobContext) -> list[dict[str, Any]]:
        plan = plan_job(job.settings)
        with tempfile.TemporaryDirectory(prefix=f"mc-{job.job_id}-") as tmp:
            work = Path(tmp)
            job.progress(0, "PROBING")
            if plan.pieces:
                return self._stitched(plan, work, job)
            source = self._fetch_input(plan.source, work)
            info = probe_source(source)
            if not info.has_audio and plan.external_audio is None:
                raise JobError(1030, "the input has no audio track to encode")
            out, files = work / "out", work / "files"
            out.mkdir()
            files.mkdir()
            name = _basename(plan.destination, "index")
            if plan.clip is None:
                renditions = self._ladder(plan, source, info, out, files, name, job)
            else:
                renditions = self._window(plan, source, info, work, out, name, job)
            job.progress(95, "UPLOADING")
            master = write_master(out, name, plan, renditions)
            self._upload(out, plan.destination)
            wavs = self._upload(files, plan.pcm.destination) if plan.pcm else []
        details: list[dict[str, Any]] = [
            {
                "Type": "CMAF_GROUP",
                "PlaylistFilePaths": [_join(plan.destination, master.name)],
                "OutputDetails": [
                    _detail(r.duration, _join(plan.destination, r.playlist.name), r) for r in renditions
                ],
            }
        ]
        if wavs:
            details.append({"Type": "FILE_GROUP", "OutputDetails": [_detail(info.duration, wavs[0], None)]})
        return details

    # ladder ----------------------------------------------------------------------------

    def _ladder(
        self, plan: Plan, source: Path, info: SourceInfo, out: Path, files: Path, name: str, job: JobContext
    ) -> list[Rendition]:
        fps = plan.videos[0].fps if plan.videos else info.fps
        work = out.parent
        inputs, graph = self._compose(plan, work, ["-i", str(source)], fps, 0.0, None, info.duration)
        audio_map = "0:a:0"
        if plan.external_audio is not None:  # the selector's file replaces the input's audio
            ext = self._fetch(plan.external_audio, work / "external", "ExternalAudioFileInput")
            inputs += ["-itsoffset", f"{plan.audio_offset_ms / 1000:.3f}", "-i", str(ext)]
            audio_map = f"{1 + len(plan.images)}:a:0"
        args = [*self._base_args(), *inputs, "-filter_complex", ";".join(graph)]
        for i, v in enumerate(plan.videos):
            args += ["-map", f"[v{i}]", "-an", *self._x264(v, plan.segment_seconds)]
            args += self._hls(out, f"{name}{v.modifier}", plan.segment_seconds)
        args += ["-map", audio_map, "-vn", *self._aac(plan.audio)]
        args += self._hls(out, f"{name}{plan.audio.modifier}", plan.segment_seconds)
        if plan.pcm is not None:  # same decode, same resampler: the PCM the AAC encoder received
            wav = files / f"{_basename(plan.pcm.destination, 'audio')}{plan.pcm.modifier}.wav"
            args += ["-map", audio_map, "-vn", "-c:a", "pcm_s16le", "-ar", str(plan.pcm.sample_rate)]
            args += ["-ac", str(plan.pcm.channels), "-bitexact", "-f", "wav", str(wav)]
        self._ffmpeg(args, job, expected_seconds=info.duration)
        return collect_renditions(out, name, plan)

    def _compose(
        self,
        plan: Plan,
        work: Path,
        inputs: list[str],
        fps: int,
        start: float,
        end: float | None,
        duration: float,
    ) -> tuple[list[str], list[str]]:
        """Inputs and filter graph shared by ladders and windows: input 0's video at the output
        frame rate (on the input's timeline from ``start``) → image inserter → one scaled branch
        per rendition, labelled ``[v0]``, ``[v1]``…"""
        inputs = list(inputs)
        trim = f",trim=end={end:.6f}" if end is not None else ""
        graph = [f"[0:v:0]fps={fps},setpts=PTS+{start:.6f}/TB{trim}[main]"]
        current = "main"
        length = ["-t", f"{(duration if end is None else end) - start + 1:.6f}"]  # looped images end
        for i, img in enumerate(plan.images):
            png = self._fetch(img.uri, work / f"image{i}.png", "ImageInserterInput")
            inputs += ["-loop", "1", "-framerate", str(fps), *length, "-i", str(png)]
            t0 = parse_timecode(img.start_timecode, fps) / fps
            t1 = t0 + img.duration
            fades = f"format=rgba,colorchannelmixer=aa={img.opacity:.3f},setpts=PTS+{start:.6f}/TB"
            if img.fade_in:
                fades += f",fade=t=in:st={t0:.3f}:d={img.fade_in:.3f}:alpha=1"
            if img.fade_out:
                fades += f",fade=t=out:st={max(t0, t1 - img.fade_out):.3f}:d={img.fade_out:.3f}:alpha=1"
            graph.append(f"[{i + 1}:v]{fades}[img{i}]")
            # shortest=0 + eof_action=pass: the picture goes on when a looped image ends.
            graph.append(
                f"[{current}][img{i}]overlay=x={img.x}:y={img.y}:eof_action=pass:"
                f"enable='between(t,{t0:.3f},{t1:.3f})'[ov{i}]"
            )
            current = f"ov{i}"
        graph.append(
            f"[{current}]split={len(plan.videos)}" + "".join(f"[s{i}]" for i in range(len(plan.videos)))
        )
        graph += [
            f"[s{i}]scale={v.width}:{v.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
            for i, v in enumerate(plan.videos)
        ]
        return inputs, graph

    # window ----------------------------------------------------------------------------

    def _window(
        self, plan: Plan, source: Path, info: SourceInfo, work: Path, out: Path, name: str, job: JobContext
    ) -> list[Rendition]:
        assert plan.clip is not None
        fps = plan.videos[0].fps if plan.videos else info.fps
        seg = plan.segment_seconds
        first_frame, last_frame = (parse_timecode(tc, fps) for tc in plan.clip)
        start, end = first_frame / fps, min((last_frame + 1) / fps, info.duration)
        if first_frame % (fps * seg) != 0 or start >= info.duration or last_frame < first_frame:
            raise JobError(1040, f"InputClippings must start on a {seg} s segment boundary inside the input")
        first_seg = first_frame // (fps * seg)
        last_seg = max(first_seg, math.ceil(end / seg - 1e-9) - 1)
        job.progress(10, "TRANSCODING")
        if plan.videos:
            self._window_video(plan, source, work, out, name, fps, start, end, job)
        job.progress(60, "TRANSCODING")
        self._window_audio(plan, source, info, work, out, name, first_seg, last_seg, job)
        return collect_renditions(out, name, plan)

    def _window_video(
        self,
        plan: Plan,
        source: Path,
        work: Path,
        out: Path,
        name: str,
        fps: int,
        start: float,
        end: float,
        job: JobContext,
    ) -> None:
        # Same pipeline as the ladder (fps → [overlay] → split → scale) on the clip, with the
        # clip's timestamps put back on the input timeline so keyframes land on 2 s marks.
        clip = ["-ss", f"{start:.6f}", "-t", f"{end - start + 1:.6f}", "-i", str(source)]
        inputs, graph = self._compose(plan, work, clip, fps, start, end, end)
        args = [*self._base_args(), *inputs, "-filter_complex", ";".join(graph)]
        # The HLS muxer cuts relative to 0 and would emit catch-up segments for a clip that starts
        # at 6 s; a fragmented MP4 with one fragment per (2 s, closed) GOP and absolute decode
        # times is cut into init + segments instead, which is exactly what a segment file holds.
        for i, v in enumerate(plan.videos):
            args += ["-map", f"[v{i}]", "-an", *self._x264(v, plan.segment_seconds, start)]
            args += ["-f", "mp4", "-movflags", _FRAGMENTED, str(work / f"window{i}.mp4")]
        self._ffmpeg(args, job, expected_seconds=None)
        expected = math.ceil((end - start) / plan.segment_seconds - 1e-9)
        for i, v in enumerate(plan.videos):
            init, fragments = split_fragments((work / f"window{i}.mp4").read_bytes())
            if len(fragments) != expected:
                raise JobError(
                    1020, f"{v.modifier}: expected {expected} GOPs in the clip, got {len(fragments)}"
                )
            frames = [v.fps * plan.segment_seconds] * expected
            frames[-1] = round((end - start) * v.fps) - v.fps * plan.segment_seconds * (expected - 1)
            write_rendition(out, f"{name}{v.modifier}", init, fragments, [f / v.fps for f in frames], plan)

    def _window_audio(
        self,
        plan: Plan,
        source: Path,
        info: SourceInfo,
        work: Path,
        out: Path,
        name: str,
        first_seg: int,
        last_seg: int,
        job: JobContext,
    ) -> None:
        a = plan.audio
        rate, frame_bytes = a.sample_rate, 2 * a.channels  # interleaved s16
        seg_starts = [audio_segment_start(i) for i in range(first_seg, last_seg + 2)]
        preroll = 2 * AAC_FRAME_SAMPLES
        lo = max(0, seg_starts[0] - preroll)
        hi = seg_starts[-1] + preroll
        # The source's audio as the ladder's encoder received it (same resampler chain), decoded
        # from a second before the preroll; ``origin`` is the input sample at pcm[0].
        origin = max(0, lo - rate)
        pcm = bytearray()
        if info.has_audio:
            pcm += self._decode_pcm(source, a, start=origin / rate, limit_seconds=(hi - origin) / rate + 0.5)
        total = len(pcm) // frame_bytes + origin
        if plan.external_audio is not None:
            ext = self._external_pcm(
                self._fetch(plan.external_audio, work / "external", "ExternalAudioFileInput"), a
            )
            at = (plan.audio_offset_ms * rate // 1000 - origin) * frame_bytes
            if at < 0:
                raise JobError(1040, "the external audio starts before the clip's audio preroll")
            if len(pcm) < at + len(ext):
                pcm.extend(bytes(at + len(ext) - len(pcm)))
            pcm[at : at + len(ext)] = ext
        available = max(total, len(pcm) // frame_bytes + origin)
        self._audio_segments(plan, pcm, origin, seg_starts, min(hi, available), work, out, name, job)

    def _audio_segments(
        self,
        plan: Plan,
        pcm: bytearray,
        origin: int,
        seg_starts: list[int],
        hi: int,
        work: Path,
        out: Path,
        name: str,
        job: JobContext,
    ) -> None:
        """Encode ``pcm`` (interleaved s16 whose first sample is sample ``origin`` of the output
        timeline) into one audio segment per pair of ``seg_starts``, primed with what precedes
        the first, with absolute decode times."""
        a = plan.audio
        rate, frame_bytes = a.sample_rate, 2 * a.channels
        lo = max(0, seg_starts[0] - 2 * AAC_FRAME_SAMPLES)
        # One process: the span is encoded once per segment output (identical, deterministic
        # encoders: a few seconds of audio each) and each output keeps its segment's packets by
        # timestamp. Cuts are not clamped to the input's end: the encoder's final flush packets
        # lie past it, and the ladder's last segments hold them too.
        args = [*self._base_args(progress=False)]
        args += ["-f", "s16le", "-ar", str(rate), "-ac", str(a.channels), "-i", "pipe:0"]
        pieces: list[tuple[Path, float]] = []
        for n, (s, e) in enumerate(itertools.pairwise(seg_starts)):
            piece = work / f"apiece{n}"
            piece.mkdir()
            args += ["-map", "0:a", "-af", f"asetpts=PTS+{lo}", *self._aac(a)]
            args += ["-bsf:a", f"noise=drop=lt(pts\\,{s})+gte(pts\\,{e})"]
            args += self._hls(piece, "p", 10_000, discont=True)
            pieces.append((piece, (e - s) / rate))
        self._run(args, job=job, stdin=bytes(pcm[(lo - origin) * frame_bytes : (hi - origin) * frame_bytes]))
        init = (pieces[0][0] / "p_init.mp4").read_bytes()
        fragments = [(piece / "p_00001.mp4").read_bytes() for piece, _ in pieces]
        write_rendition(out, f"{name}{a.modifier}", init, fragments, [sec for _, sec in pieces], plan)

    # stitched ---------------------------------------------------------------------------

    def _stitched(self, plan: Plan, work: Path, job: JobContext) -> list[dict[str, Any]]:
        """A job of several inputs played in order (files clipped to whole frames, still-image
        generators): one picture and one sound track on the first input's timeline, re-encoded
        into every output. Video GOPs fall every segment length from the first clip's start
        (a segment boundary, as for a window); audio segments are cut on the AAC grid of that
        timeline, and the last file input's audio runs on to the grid point at or after its
        clip's end (its next segment's start, as a window's does)."""
        out = work / "out"
        out.mkdir()
        name = _basename(plan.destination, "index")
        fps, seg = plan.videos[0].fps, plan.segment_seconds
        parts = self._stitched_parts(plan, work, fps)
        first = parts[0]
        if first.start % (fps * seg) != 0:
            raise JobError(1040, f"Inputs[0] InputClippings must start on a {seg} s segment boundary")
        job.progress(10, "TRANSCODING")
        self._stitched_video(plan, parts, work, out, name, fps, job)
        job.progress(60, "TRANSCODING")
        self._stitched_audio(plan, parts, work, out, name, fps, job)
        renditions = collect_renditions(out, name, plan)
        job.progress(95, "UPLOADING")
        master = write_master(out, name, plan, renditions)
        self._upload(out, plan.destination)
        return [
            {
                "Type": "CMAF_GROUP",
                "PlaylistFilePaths": [_join(plan.destination, master.name)],
                "OutputDetails": [
                    _detail(r.duration, _join(plan.destination, r.playlist.name), r) for r in renditions
                ],
            }
        ]

    def _stitched_parts(self, plan: Plan, work: Path, fps: int) -> list[_Part]:
        parts = []
        for i, piece in enumerate(plan.pieces):
            ext = (
                self._fetch(piece.external_audio, work / f"external{i}", "ExternalAudioFileInput")
                if piece.external_audio is not None
                else None
            )
            if piece.source is None:
                assert piece.image is not None
                frames = round(piece.duration_ms * fps / 1000)
                if frames < 1:
                    raise JobError(1040, f"Inputs[{i}] VideoGenerator lasts less than one frame")
                png = self._fetch(piece.image, work / f"generator{i}.png", "ImageInput")
                parts.append(_Part(i, None, None, png, ext, piece.audio_offset_ms, 0, frames))
                continue
            assert piece.clip is not None
            path = self._fetch_input(piece.source, work)
            info = probe_source(path)
            start, last = (parse_timecode(tc, fps) for tc in piece.clip)
            end = min(last + 1, round(info.duration * fps))
            if start >= end:
                raise JobError(1040, f"Inputs[{i}] InputClippings select no frame of the input")
            parts.append(_Part(i, path, info, None, ext, piece.audio_offset_ms, start, end - start))
        return parts

    def _stitched_video(
        self, plan: Plan, parts: list[_Part], work: Path, out: Path, name: str, fps: int, job: JobContext
    ) -> None:
        widest = max(plan.videos, key=lambda v: v.width * v.height)
        size = f"scale={widest.width}:{widest.height}:flags=bicubic,setsar=1,format=yuv420p"
        inputs: list[str] = []
        graph: list[str] = []
        for k, part in enumerate(parts):
            seconds = part.frames / fps
            if part.path is None:
                assert part.image is not None
                inputs += [
                    "-loop",
                    "1",
                    "-framerate",
                    str(fps),
                    "-t",
                    f"{seconds + 1:.6f}",
                    "-i",
                    str(part.image),
                ]
            else:
                inputs += ["-ss", f"{part.start / fps:.6f}", "-t", f"{seconds + 1:.6f}", "-i", str(part.path)]
            graph.append(f"[{k}:v:0]fps={fps},trim=end_frame={part.frames},setpts=PTS-STARTPTS,{size}[p{k}]")
        start = parts[0].start / fps
        graph.append(
            "".join(f"[p{k}]" for k in range(len(parts)))
            + f"concat=n={len(parts)}:v=1:a=0,setpts=PTS+{start:.6f}/TB,"
            + f"split={len(plan.videos)}"
            + "".join(f"[s{i}]" for i in range(len(plan.videos)))
        )
        graph += [
            f"[s{i}]scale={v.width}:{v.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
            for i, v in enumerate(plan.videos)
        ]
        args = [*self._base_args(), *inputs, "-filter_complex", ";".join(graph)]
        for i, v in enumerate(plan.videos):
            args += ["-map", f"[v{i}]", "-an", *self._x264(v, plan.segment_seconds, start)]
            args += ["-f", "mp4", "-movflags", _FRAGMENTED, str(work / f"stitched{i}.mp4")]
        self._ffmpeg(args, job, expected_seconds=None)
        total, per = sum(p.frames for p in parts), fps * plan.segment_seconds
        frames = [min(per, total - n) for n in range(0, total, per)]
        for i, v in enumerate(plan.videos):
            init, fragments = split_fragments((work / f"stitched{i}.mp4").read_bytes())
            if len(fragments) != len(frames):
                raise JobError(1020, f"{v.modifier}: expected {len(frames)} GOPs, got {len(fragments)}")
            write_rendition(out, f"{name}{v.modifier}", init, fragments, [f / fps for f in frames], plan)

    def _stitched_audio(
        self, plan: Plan, parts: list[_Part], work: Path, out: Path, name: str, fps: int, job: JobContext
    ) -> None:
        a = plan.audio
        rate, seg = a.sample_rate, plan.segment_seconds
        first, last = parts[0], parts[-1]
        start = first.start * rate // fps  # the output timeline is the first input's
        first_seg = first.start // (fps * seg)
        # Where each input begins on the output timeline.
        begins = list(itertools.accumulate((p.frames * rate // fps for p in parts), initial=start))
        if last.path is not None:  # its audio runs on to the grid point at/after its clip's end
            clip_end = (last.start + last.frames) * rate // fps
            index = math.ceil(clip_end / (seg * rate) - 1e-9)
            end = begins[-2] + audio_segment_start(index) - last.start * rate // fps
        else:
            end = begins[-1]
        cuts = [audio_segment_start(first_seg)]
        i = first_seg + 1
        while audio_segment_start(i) < end:
            cuts.append(audio_segment_start(i))
            i += 1
        if end - cuts[-1] < AAC_FRAME_SAMPLES and len(cuts) > 1:
            cuts.pop()  # a tail under one AAC frame is not a segment of its own
        cuts.append(end)
        preroll = 2 * AAC_FRAME_SAMPLES
        origin = max(0, cuts[0] - preroll - rate)
        hi = end + preroll
        pcm = bytearray()
        for k, part in enumerate(parts):
            lo_k = origin if k == 0 else begins[k]  # the first input also gives the preroll
            hi_k = hi if k == len(parts) - 1 else begins[k + 1]
            # Sample ``lo_k`` of the output is sample ``at`` of this input's own timeline.
            at = part.start * rate // fps - (begins[k] - lo_k)
            pcm += self._input_pcm(part, at, hi_k - lo_k, a)
        self._audio_segments(plan, pcm, origin, cuts, hi, work, out, name, job)

    def _input_pcm(self, part: _Part, at: int, samples: int, a: AudioOut) -> bytes:
        """``samples`` of an input's sound from sample ``at`` of its timeline: the file's audio (a
        generator's is silent) with the selected external file laid over it from its offset."""
        rate, frame_bytes = a.sample_rate, 2 * a.channels
        pcm = bytearray()
        if part.path is not None and part.info is not None and part.info.has_audio and at >= 0:
            pcm += self._decode_pcm(part.path, a, start=at / rate, limit_seconds=samples / rate + 0.1)
        pcm = pcm[: samples * frame_bytes]
        pcm.extend(bytes(samples * frame_bytes - len(pcm)))
        if part.external is not None:
            ext = self._external_pcm(part.external, a)
            shift = part.offset_ms * rate // 1000 - at  # where the file's first sample falls in pcm
            lo, hi = max(0, shift), min(samples, shift + len(ext) // frame_bytes)
            if hi > lo:
                pcm[lo * frame_bytes : hi * frame_bytes] = ext[
                    (lo - shift) * frame_bytes : (hi - shift) * frame_bytes
                ]
        return bytes(pcm)

    def _external_pcm(self, path: Path, a: AudioOut) -> bytes:
        """The external audio as interleaved s16: read directly when it already is a 16-bit WAV at
        the output's rate and layout (what Tailorcast sends), decoded by ffmpeg otherwise."""
        try:
            with wave.open(str(path), "rb") as w:
                if (w.getsampwidth(), w.getframerate(), w.getnchannels()) == (2, a.sample_rate, a.channels):
                    return w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            pass
        return self._decode_pcm(path, a)

    # ffmpeg plumbing -------------------------------------------------------------------

    def _base_args(self, progress: bool = True) -> list[str]:
        args = [self.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y"]
        return [*args, "-progress", "pipe:1"] if progress else args

    def _x264(self, v: VideoOut, seg: int, start: float = 0.0) -> list[str]:
        """x264 for one rung: closed 2 s GOPs forced on the input timeline's segment marks."""
        gop = round(v.gop_seconds * v.fps)
        args = ["-c:v", "libx264", "-preset", self.preset, "-profile:v", v.profile, "-pix_fmt", "yuv420p"]
        args += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "0"]
        args += [
            "-force_key_frames",
            f"expr:gte(t,{start:.6f}+n_forced*{seg})",
            "-x264-params",
            "open-gop=0:scenecut=0",
        ]
        if v.rate_control == "QVBR":
            # QVBR 1..10 → CRF 36..18 under the same peak-rate cap MediaConvert applies.
            args += ["-crf", str(38 - 2 * (v.qvbr or 7))]
            if v.max_bitrate:
                args += ["-maxrate", str(v.max_bitrate), "-bufsize", str(v.buffer or 2 * v.max_bitrate)]
        else:
            rate = v.bitrate or v.max_bitrate or 2_000_000
            args += [
                "-b:v",
                str(rate),
                "-maxrate",
                str(v.max_bitrate or rate),
                "-bufsize",
                str(v.buffer or 2 * rate),
            ]
        return args

    def _aac(self, a: AudioOut) -> list[str]:
        return ["-c:a", "aac", "-b:a", str(a.bitrate), "-ar", str(a.sample_rate), "-ac", str(a.channels)]

    def _hls(self, out: Path, stem: str, seg: int, discont: bool = False) -> list[str]:
        args = ["-f", "hls", "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4"]
        args += ["-hls_flags", "independent_segments", "-start_number", "1"]
        if discont:  # absolute decode times in every fragment (tfdt), no edit-list shift
            args += ["-hls_segment_options", "movflags=+frag_discont"]
        args += ["-hls_fmp4_init_filename", f"{stem}_init.mp4"]
        return [*args, "-hls_segment_filename", str(out / f"{stem}_%05d.mp4"), str(out / f"{stem}.m3u8")]

    def _decode_pcm(
        self, path: Path, a: AudioOut, start: float = 0.0, limit_seconds: float | None = None
    ) -> bytes:
        """Interleaved s16 at the output's rate and layout, from ``start`` seconds (sample-exact)."""
        seek = ["-ss", f"{start:.6f}"] if start > 0 else []
        args = [*self._base_args(progress=False), *seek, "-i", str(path)]
        if limit_seconds is not None:
            args += ["-t", f"{limit_seconds:.6f}"]
        args += ["-map", "0:a:0", "-f", "s16le", "-ar", str(a.sample_rate), "-ac", str(a.channels), "pipe:1"]
        proc = subprocess.run(args, capture_output=True, check=False)
        if proc.returncode != 0:
            raise JobError(1010, f"could not decode audio from {path.name}: {_tail(proc.stderr)}")
        return proc.stdout

    def _run(self, args: list[str], job: JobContext, stdin: bytes | None = None) -> None:
        if job.cancelled():
            raise JobError(1050, "the job was cancelled")
        proc = subprocess.run(args, input=stdin, capture_output=True, check=False)
        if proc.returncode != 0:
            raise JobError(1020, f"ffmpeg failed: {_tail(proc.stderr)}")

    def _ffmpeg(self, args: list[str], job: JobContext, expected_seconds: float | None) -> None:
        """Run ffmpeg, turning its ``-progress`` output into job progress; kill it on cancel."""
        with _popen(args) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if job.cancelled():
                    proc.kill()
                    raise JobError(1050, "the job was cancelled")
                m = _OUT_TIME.match(line)
                if m and expected_seconds:
                    done = int(m.group(1)) / 1e6 / expected_seconds
                    job.progress(min(90, 5 + int(done * 85)), "TRANSCODING")
            proc.wait()
            assert proc.stderr is not None
            err = proc.stderr.read()
            if proc.returncode != 0:
                raise JobError(1020, f"ffmpeg failed: {_tail(err.encode())}")

    # S3 --------------------------------------------------------------------------------

    def _fetch(self, uri: str, dest: Path, setting: str) -> Path:
        bucket, key = _split_s3(uri, setting)
        try:
            self._s3().download_file(bucket, key, str(dest))
        except Exception as exc:  # botocore raises several types for a missing object
            raise JobError(1404, f"{setting} {uri} could not be read: {exc}") from exc
        return dest

    def _fetch_input(self, uri: str, work: Path) -> Path:
        """The job's FileInput. Every prospect's window job reads the same base upload, so the last
        few inputs stay on local disk, keyed by their ETag (a changed object is fetched again)."""
        bucket, key = _split_s3(uri, "FileInput")
        try:
            etag = str(self._s3().head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
        except Exception as exc:
            raise JobError(1404, f"FileInput {uri} could not be read: {exc}") from exc
        cached = self._cache / hashlib.sha256(f"{bucket}/{key}/{etag}".encode()).hexdigest()
        with self._cache_lock:
            if not cached.exists():
                partial = cached.with_suffix(".part")
                self._fetch(uri, partial, "FileInput")
                partial.rename(cached)
                for stale in sorted(self._cache.iterdir(), key=lambda f: f.stat().st_mtime)[:-_CACHED_INPUTS]:
                    stale.unlink(missing_ok=True)
            cached.touch()
        return cached

    def _upload(self, out: Path, destination: str) -> list[str]:
        """Upload every file in ``out`` next to ``destination``; return their s3:// URIs."""
        bucket, key = _split_s3(destination, "Destination")
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        s3 = self._s3()
        uploaded = []
        for f in sorted(out.iterdir()):
            content_type = _CONTENT_TYPES.get(f.suffix, "application/octet-stream")
            if f.stat().st_size <= _SINGLE_PUT_BYTES:  # one PutObject, without the transfer manager
                body = f.read_bytes()
                s3.put_object(Bucket=bucket, Key=prefix + f.name, Body=body, ContentType=content_type)
            else:
                s3.upload_file(str(f), bucket, prefix + f.name, ExtraArgs={"ContentType": content_type})
            uploaded.append(f"s3://{bucket}/{prefix}{f.name}")
        return uploaded


#: Outputs up to this size go up in one PutObject (segments, playlists); larger ones (a whole
#: rendition of a long video) through boto3's managed multipart upload.
_SINGLE_PUT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Part:
    """A stitched job's input, resolved: its file (or a generator's still), its external audio,
    and the ``frames`` it plays from frame ``start`` of its own timeline."""

    index: int
    path: Path | None
    info: SourceInfo | None
    image: Path | None
    external: Path | None
    offset_ms: int
    start: int
    frames: int


_CACHED_INPUTS = 4
_FRAGMENTED = "+frag_keyframe+empty_moov+default_base_moof+delay_moov+frag_discont"
_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4", ".wav": "audio/wav"}


@contextmanager
def _popen(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-3:]) or "no output"


def _split_s3(uri: str, setting: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise JobError(1404, f"{setting} must be an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _basename(destination: str, default: str) -> str:
    """The file name part of an s3:// Destination (MediaConvert's output base name)."""
    return destination.rstrip("/").rsplit("/", 1)[-1] or default


def _join(destination: str, filename: str) -> str:
    return destination.rsplit("/", 1)[0] + "/" + filename


# --------------------------------------------------------------------------- outputs


def _detail(seconds: float, path: str, rendition: Rendition | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"DurationInMs": round(seconds * 1000), "OutputFilePaths": [path]}
    if rendition is not None and rendition.width:
        detail["VideoDetails"] = {"WidthInPx": rendition.width, "HeightInPx": rendition.height}
    return detail
