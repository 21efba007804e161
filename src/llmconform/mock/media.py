"""Real, small, valid media for the mock's answers: images (PNG, JPEG, WebP) and sound (raw PCM, WAV).

Every generator is deterministic for its arguments: ``seed`` (the bytes of a prompt, a model name, ...)
picks the colours of an image or the pitch of a tone, so one request always gets the same bytes. Images
are encoded by Pillow, sound by the standard library (``wave`` for the RIFF container); nothing here is
hand-written encoding. Results are cached, because load runs ask for the same few media again and again.

Images are a flat background with one filled ellipse in a second colour (so a decoder sees two colours,
not a blank); sound is a sine tone at 40 % of full scale, 16-bit signed little-endian, mono.

Compressed sound (MP3, Ogg Opus, ADTS AAC, FLAC) and video (H.264 in MP4) are encoded by FFmpeg through
PyAV (``av``, whose wheels bundle FFmpeg and its encoders): ``encoded_audio`` and ``mp4_video``.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
import wave
from array import array
from collections.abc import Callable
from functools import lru_cache
from typing import cast

from PIL import Image, ImageDraw

__all__ = [
    "ENCODED_AUDIO_FORMATS",
    "IMAGE_MEDIA_TYPES",
    "MAX_IMAGE_SIDE",
    "encoded_audio",
    "image_bytes",
    "mp4_video",
    "pcm16",
    "wav",
]

# The encodings image_bytes produces, by name (as OpenAI's output_format names them), and their media types.
IMAGE_MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# The largest side the mock draws (gpt-image-1 goes to 1536; 3840 leaves room for larger sizes).
MAX_IMAGE_SIDE = 3840
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_CACHE = 128
_AMPLITUDE = 0.4 * 32767


def _digest(seed: bytes, what: bytes) -> bytes:
    return hashlib.sha256(what + b"\0" + seed).digest()


@lru_cache(maxsize=_CACHE)
def image_bytes(width: int, height: int, image_format: str = "png", *, seed: bytes = b"", quality: int = 85) -> bytes:
    """An encoded ``width`` x ``height`` RGB image in ``image_format`` (png, jpeg or webp).

    ``quality`` (1-100) is the JPEG/WebP compression level, as OpenAI's ``output_compression``; PNG ignores it.
    """
    if image_format not in _PIL_FORMATS:
        raise ValueError(f"image_format {image_format!r} is not one of {', '.join(_PIL_FORMATS)}")
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ValueError(f"image size {width}x{height} is outside 1..{MAX_IMAGE_SIDE} pixels per side")
    colours = _digest(seed, b"image")
    background = (colours[0], colours[1], colours[2])
    foreground = (255 - colours[0], 255 - colours[1], 255 - colours[2])
    image = Image.new("RGB", (width, height), background)
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, (3 * width) // 4, (3 * height) // 4), fill=foreground)
    out = io.BytesIO()
    if image_format == "png":
        image.save(out, format="PNG")
    else:
        image.save(out, format=_PIL_FORMATS[image_format], quality=max(1, min(quality, 100)))
    return out.getvalue()


@lru_cache(maxsize=_CACHE)
def pcm16(duration_s: float, rate: int, *, seed: bytes = b"") -> bytes:
    """``duration_s`` seconds of a mono sine tone as raw 16-bit signed little-endian samples at ``rate`` Hz.

    This is the layout Gemini's text-to-speech returns as ``audio/L16;codec=pcm;rate=24000`` and OpenAI's
    ``response_format: pcm`` (24 kHz); the pitch (220-880 Hz) comes from ``seed``.
    """
    if rate < 1 or duration_s < 0:
        raise ValueError(f"need rate >= 1 and duration_s >= 0; got rate={rate}, duration_s={duration_s}")
    frequency = 220 + int.from_bytes(_digest(seed, b"tone")[:2], "big") % 661
    step = 2 * math.pi * frequency / rate
    samples = array("h", (round(_AMPLITUDE * math.sin(step * n)) for n in range(round(duration_s * rate))))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@lru_cache(maxsize=_CACHE)
def wav(duration_s: float, rate: int, *, seed: bytes = b"") -> bytes:
    """The tone of :func:`pcm16` in a RIFF WAVE file (PCM, 16-bit, mono), written by the ``wave`` module."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm16(duration_s, rate, seed=seed))
    return out.getvalue()


# ---------------------------------------------------------------------- compressed sound and video (PyAV)

# The compressed audio formats encoded_audio makes: (FFmpeg muxer, encoder, sample rate, bit rate), chosen
# as OpenAI's speech formats are delivered: MP3, Ogg Opus, AAC in ADTS frames, FLAC.
ENCODED_AUDIO_FORMATS: dict[str, tuple[str, str, int, int]] = {
    "mp3": ("mp3", "libmp3lame", 16_000, 32_000),
    "opus": ("ogg", "libopus", 16_000, 16_000),
    "aac": ("adts", "aac", 16_000, 32_000),
    "flac": ("flac", "flac", 16_000, 0),
}


@lru_cache(maxsize=_CACHE)
def encoded_audio(audio_format: str, duration_s: float, *, seed: bytes = b"") -> bytes:
    """``duration_s`` seconds of the :func:`pcm16` tone encoded as ``audio_format`` (mp3, opus, aac or flac)."""
    import av

    if audio_format not in ENCODED_AUDIO_FORMATS:
        raise ValueError(f"audio_format {audio_format!r} is not one of {', '.join(ENCODED_AUDIO_FORMATS)}")
    muxer, encoder, rate, bit_rate = ENCODED_AUDIO_FORMATS[audio_format]
    samples = pcm16(duration_s, rate, seed=seed)
    out = io.BytesIO()
    with av.open(out, mode="w", format=muxer) as container:
        stream = container.add_stream(encoder, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if bit_rate:
            stream.codec_context.bit_rate = bit_rate
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples) // 2)
        frame.planes[0].update(samples if sys.byteorder == "little" else _swapped(samples))
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame if samples else None):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def _swapped(samples: bytes) -> bytes:
    values = array("h", samples)
    values.byteswap()
    return values.tobytes()


@lru_cache(maxsize=_CACHE)
def mp4_video(width: int, height: int, duration_s: float, fps: int = 8, *, seed: bytes = b"") -> bytes:
    """An H.264 MP4 of ``duration_s`` seconds at ``fps``, ``width`` x ``height`` (even sides, <= 256).

    Each frame is the :func:`image_bytes` picture with its ellipse moved a little, so the frames differ.
    """
    import av

    if width % 2 or height % 2 or not (2 <= width <= 256 and 2 <= height <= 256):
        raise ValueError(f"video size {width}x{height} must be even and within 2..256 pixels per side")
    if duration_s <= 0 or fps < 1:
        raise ValueError(f"need duration_s > 0 and fps >= 1; got duration_s={duration_s}, fps={fps}")
    colours = _digest(seed, b"video")
    background = (colours[0], colours[1], colours[2])
    foreground = (255 - colours[0], 255 - colours[1], 255 - colours[2])
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        # PyAV types VideoFrame.from_image loosely (its PIL argument is untyped).
        from_image = cast("Callable[[Image.Image], av.VideoFrame]", av.VideoFrame.from_image)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = max(1, round(duration_s * fps))
        for number in range(frames):
            image = Image.new("RGB", (width, height), background)
            shift = (number * width) // (2 * frames)
            box = (shift, height // 4, shift + width // 2, (3 * height) // 4)
            ImageDraw.Draw(image).ellipse(box, fill=foreground)
            frame = from_image(image)
            frame.pts = number
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
