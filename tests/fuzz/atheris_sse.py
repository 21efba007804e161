"""atheris harness: the SSE decoder raises nothing but SSEError, whatever the bytes and however they are split.

Coverage-guided (libFuzzer through atheris), to complement the hypothesis tests in
tests/unit/test_fuzz_parsers.py. Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``). From the
repository root, with any libFuzzer flags::

    .venv/bin/python -m tests.fuzz.atheris_sse -max_total_time=60 [CORPUS_DIR ...]

The input's first byte picks the line limit (a small one reaches the SSEError path), the next byte the number
of network reads, the rest is the stream. Any exception other than SSEError is a crash (libFuzzer writes the
input to ``crash-*``), and so is a chunking that changes the decoded events.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["llmconform"]):
    from llmconform.sse import SSEDecoder, SSEError, decode_all


def _reads(payload: bytes, pieces: int) -> list[bytes]:
    """``payload`` in ``pieces`` reads of varied length (a split CRLF and one-byte reads included)."""
    if pieces <= 1 or not payload:
        return [payload]
    size = max(1, len(payload) // pieces)
    cuts = sorted({min(len(payload), (i * size + i % 3) % (len(payload) + 1)) for i in range(1, pieces)})
    return [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]


def one_input(data: bytes) -> None:
    """Decode ``data`` whole and in pieces; only SSEError may escape, and only for a line over the limit."""
    if len(data) < 2:
        return
    limit = data[0] + 1 if data[0] < 64 else 1 << 20
    pieces, payload = data[1] % 16, data[2:]
    decoder = SSEDecoder(max_line_bytes=limit)
    try:
        events = [event for read in _reads(payload, pieces) for event in decoder.feed(read)]
        tail, _ = decoder.close()
    except SSEError:
        return
    if limit == 1 << 20 and events + tail != decode_all(payload):
        raise AssertionError(f"the events depend on how the stream was split into reads: {payload[:200]!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
