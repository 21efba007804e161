"""atheris harness: every family's reader and every exchange rule read any answer a server can send, unhurt.

Coverage-guided (libFuzzer through atheris), to complement the hypothesis tests in
tests/unit/test_fuzz_parsers.py. Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``). From the
repository root, with any libFuzzer flags::

    .venv/bin/python -m tests.fuzz.atheris_families -max_total_time=60 [CORPUS_DIR ...]

An input is four header bytes and a payload: which answer shape of tests/fuzz/answers.py (family and
operation, unary or SSE, the Gemini JSON array), which of its requests, a flag byte (bit 0: an SSE stream;
bits 1-4: the status) and the number of network reads; the payload is the body or the raw SSE stream, fed
through the client's StreamRecorder. Without a corpus directory the harness seeds one with every template
(valid answers, so mutation starts from real structure). Any exception from a reader or rule is a crash.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["llmconform"]):
    from tests.fuzz.answers import ERROR_BODIES, SHAPES, read_and_judge, record_stream, render_sse

    from llmconform.exchange import Exchange

STATUSES = (200, 200, 200, 200, 201, 204, 400, 401, 404, 413, 422, 429, 500, 503, 529, 200)


def exchange_of(data: bytes) -> Exchange | None:
    """The Exchange an input stands for (None when it is too short to say)."""
    if len(data) < 4:
        return None
    family, operation, path, requests, stream_events, _ = SHAPES[data[0] % len(SHAPES)]
    request = requests[data[1] % len(requests)]
    streamed, status = stream_events is not None and bool(data[2] & 1), STATUSES[(data[2] >> 1) % len(STATUSES)]
    pieces, payload = data[3] % 16, data[4:]
    exchange = Exchange(family, operation, operation.split(" ", 1)[0], "http://127.0.0.1:9" + path, {}, request)
    exchange.status = status
    if streamed:
        exchange.response_headers = {"content-type": "text/event-stream"}
        step = max(1, len(payload) // max(pieces, 1))
        record_stream(exchange, payload, list(range(step, len(payload), step)), 1 << 20)
    else:
        exchange.response_headers = {"content-type": "application/json"}
        exchange.body, exchange.received_bytes = payload, len(payload)
    return exchange


def one_input(data: bytes) -> None:
    exchange = exchange_of(data)
    if exchange is not None:
        read_and_judge(exchange)


def seeds() -> list[bytes]:
    """One input per template: every shape's unary answer, its SSE stream, and its error body."""
    found: list[bytes] = []
    for number, (family, _, _, requests, stream_events, unary) in enumerate(SHAPES):
        for option in range(len(requests)):
            header = bytes([number, option, 0, 1])
            found.append(header + json.dumps(unary).encode())
            error_status = STATUSES.index(400) << 1
            found.append(bytes([number, option, error_status, 1]) + json.dumps(ERROR_BODIES[family]).encode())
            if stream_events is not None:
                events = [(name, data if isinstance(data, str) else json.dumps(data)) for name, data in stream_events]
                found.append(bytes([number, option, 1, 3]) + render_sse(events, "\n"))
    return found


def main() -> None:
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="llmconform-fuzz-families-"))
        for number, seed in enumerate(seeds()):
            (corpus / f"seed-{number:03d}").write_bytes(seed)
        argv.append(str(corpus))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
