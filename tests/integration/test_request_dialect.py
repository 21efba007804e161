"""Probes adapt to a model that refuses max_tokens and temperature (as OpenAI's reasoning models do)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from llmconform.config import CheckConfig, TargetConfig
from llmconform.conformance.outcome import ExitCode
from llmconform.conformance.runner import run_check
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, create_app


def refusing(app: ASGIApp, refused: tuple[str, ...]) -> ASGIApp:
    """Wrap the mock: a chat body naming a refused parameter gets OpenAI's 400 for it."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        bad = [p for p in refused if isinstance(body, dict) and p in body]
        if bad:
            error = {
                "message": f"Unsupported parameter: '{bad[0]}' is not supported with this model.",
                "type": "invalid_request_error",
                "param": bad[0],
                "code": "unsupported_parameter",
            }
            payload = json.dumps({"error": error}).encode()
            await send(
                {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": payload})
            return

        delivered = False

        async def replay() -> dict[str, object]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await app(scope, replay, send)

    return wrapped


@pytest.fixture
def reasoning_like_target() -> Iterator[str]:
    app = refusing(create_app(MockConfig()), ("max_tokens", "temperature"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_probes_learn_the_accepted_dialect(reasoning_like_target: str) -> None:
    config = CheckConfig(
        target=TargetConfig(base_url=reasoning_like_target, model=DEFAULT_MODELS[0], api_key=DEFAULT_API_KEY),
        max_requests=150,
    )
    outcome, _ = run_check(config, command=["test"], say=lambda _text: None)
    assert outcome.exit_code == ExitCode.OK, [f.message for f in outcome.results.findings]
    assert any("max_completion_tokens" in note for note in outcome.results.notes)
    assert any("no temperature" in note for note in outcome.results.notes)
    for rule in ("stop_sequence_ends_answer", "stream_matches_unary", "truncation_finish_reason_length"):
        assert outcome.results.count(rule).passed >= 1, rule
