"""``llmconform check`` against a second, independent server that is conformant in unusual ways.

The server (``tests/servers/unusual_server.py``) is written from the contract only, not from the
mock. Every quirk it has is legal (see its docstring and :class:`Quirks`); llmconform must not
report an error for any of them. (It once did, for integral floats such as ``"n": 2.0``, which JSON
Schema counts as integers; the test below keeps that quirk on.)
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from tests.servers.unusual_server import (
    API_KEY,
    LEXICON,
    MODELS,
    Quirks,
    UnusualServer,
    count_prompt_tokens,
    tokenize,
)

from llmconform.spec import validator_for

MODEL = "unusual/lexicon-70b:fp8"  # a slash and a colon in the id
CLI = [sys.executable, "-m", "llmconform.cli"]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ASK = [{"role": "system", "content": "Réponds brièvement."}, {"role": "user", "content": "Describe a fjord ✓"}]

# Legal SSE (WHATWG: a block without data is not dispatched) that the official openai-python SDK
# still mis-parses: it dispatches an empty-data event for a data-less block, and for every blank
# line once an `id:` was seen (openai/openai-python#2722, #3833), then json.loads("") fails.
# llmconform passes these streams with a stream_sdk_compatible warning; the SDK test leaves them out.
SDK_HOSTILE_QUIRKS = ("dataless_event", "ids")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with UnusualServer() as srv:
        yield srv.base_url


def chat(url: str, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH if headers is None else headers, timeout=10)


def parse_sse(raw: bytes) -> list[dict[str, str]]:
    """A WHATWG event-stream parser (BOM, CR/LF/CRLF, comments, multi-line data, no-data blocks)."""
    text = raw.decode("utf-8").removeprefix("\ufeff")
    events: list[dict[str, str]] = []
    data: list[str] = []
    event = ""
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            if data:
                events.append({"event": event or "message", "data": "\n".join(data)})
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    return events


def stream(url: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes]:
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, headers=AUTH) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    events = parse_sse(raw)
    assert events[-1]["data"] == "[DONE]"
    return [json.loads(e["data"]) for e in events[:-1]], raw


def run_check(url: str, report_dir: Path) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [
            *CLI,
            "check",
            "--base-url",
            url,
            "--api-key",
            API_KEY,
            "--model",
            MODEL,
            "--report-dir",
            str(report_dir),
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    report = json.loads((report_dir / "conformance.json").read_text())
    for f in report["findings"]:
        if f["severity"] != "error":
            response = (f.get("exchange") or {}).get("response") or {}
            why = str(response.get("body", ""))[:160].replace("\n", " ")
            print(f"warning {f['rule']}: {f['message'].splitlines()[0]} [{response.get('status')}: {why}]")
    return result.returncode, report, result.stdout + result.stderr


def errors_of(report: dict[str, Any]) -> list[str]:
    return [f"{f['rule']}: {f['message']}" for f in report["findings"] if f["severity"] == "error"]


# ------------------------------------------------------------------------- llmconform check


def test_llmconform_passes_the_unusual_server(tmp_path: Path) -> None:
    with UnusualServer(quirks=Quirks()) as srv:
        rc, report, output = run_check(srv.base_url, tmp_path)
    assert errors_of(report) == [], output
    assert rc == 0, output
    assert report["summary"]["sent_requests"] > 100
    warned = {f["rule"] for f in report["findings"] if f["severity"] == "warning"}
    assert "stream_sdk_compatible" in warned  # the SDK-hostile quirks are legal, but worth a warning


def test_llmconform_is_silent_on_sdk_friendly_streams(tmp_path: Path) -> None:
    with UnusualServer(quirks=Quirks().without(*SDK_HOSTILE_QUIRKS)) as srv:
        rc, report, output = run_check(srv.base_url, tmp_path)
    assert rc == 0, output
    assert "stream_sdk_compatible" not in {f["rule"] for f in report["findings"]}


# -------------------------------------------------------------------- the server by itself


def test_integral_float_n_is_schema_valid_and_honoured(server: str) -> None:
    body = {"model": MODEL, "messages": ASK, "n": 2.0, "max_tokens": 4.0}
    assert list(validator_for("CreateChatCompletionRequest").iter_errors(body)) == []
    answer = chat(server, body).json()
    assert sorted(c["index"] for c in answer["choices"]) == [0, 1]
    assert answer["usage"]["completion_tokens"] <= 8


def test_unary_usage_is_exact_and_logprobs_join(server: str) -> None:
    body = {"model": MODEL, "messages": ASK, "n": 3, "max_tokens": 6, "logprobs": True, "top_logprobs": 5}
    r = chat(server, body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    answer = r.json()
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] == count_prompt_tokens(body)
    assert usage["prompt_tokens_details"] is None and "completion_tokens_details" not in usage
    assert [c["index"] for c in answer["choices"]] == [2, 1, 0]  # a permutation, in reverse
    total = 0
    for c in answer["choices"]:
        entries = c["logprobs"]["content"]
        assert "".join(e["token"] for e in entries) == c["message"]["content"]
        assert [e["token"] for e in entries] == tokenize(c["message"]["content"])
        for e in entries:
            assert e["bytes"] == list(e["token"].encode("utf-8")) and e["logprob"] <= 0
            assert len(e["top_logprobs"]) == 5 and all(t["logprob"] <= 0 for t in e["top_logprobs"])
        assert len(entries) <= 6 and c["finish_reason"] == ("length" if len(entries) == 6 else "stop")
        assert c["message"]["reasoning_content"] is None
        total += len(entries)
    assert usage["completion_tokens"] == total
    # no logprobs asked: the key is absent, not null
    plain = chat(server, {"model": MODEL, "messages": ASK}).json()
    assert "logprobs" not in plain["choices"][0]
    assert any(ord(ch) > 127 for ch in plain["choices"][0]["message"]["content"])


def test_stream_decodes_to_the_unary_answer(server: str) -> None:
    body = {"model": MODEL, "messages": ASK, "n": 2}
    unary = chat(server, body).json()
    chunks, raw = stream(server, {**body, "stream_options": {"include_usage": True}})
    assert b"\r\n" in raw and b": keep-alive" in raw and b"event: ping" in raw and "\u2028".encode() in raw
    assert raw.startswith("\ufeff".encode())
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == unary["usage"]
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    texts: dict[int, str] = {}
    finishes: dict[int, list[str]] = {}
    for c in chunks:
        for ch in c["choices"]:
            texts[ch["index"]] = texts.get(ch["index"], "") + (ch["delta"].get("content") or "")
            if ch.get("finish_reason"):
                finishes.setdefault(ch["index"], []).append(ch["finish_reason"])
    assert texts == {c["index"]: c["message"]["content"] for c in unary["choices"]}
    assert finishes == {c["index"]: [c["finish_reason"]] for c in unary["choices"]}
    # no include_usage: the usage key is absent from every chunk, and no choices: [] chunk
    chunks, _ = stream(server, body)
    assert all("usage" not in c and c["choices"] for c in chunks)
    # the transfer really is gzip, written a few bytes at a time
    with httpx.stream("POST", f"{server}/v1/chat/completions", json={**body, "stream": True}, headers=AUTH) as r:
        assert r.headers["content-encoding"] == "gzip"
        assert parse_sse(gzip.decompress(b"".join(r.iter_raw())))[-1]["data"] == "[DONE]"


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[str]:
    with UnusualServer(quirks=Quirks().without(*SDK_HOSTILE_QUIRKS)) as srv:
        yield srv.base_url


def test_openai_sdk_reads_the_unusual_answers(sdk_server: str) -> None:
    client = openai.OpenAI(base_url=f"{sdk_server}/v1", api_key=API_KEY, max_retries=0)
    assert {m.id for m in client.models.list()} == set(MODELS)
    unary = client.chat.completions.create(model=MODEL, messages=ASK)  # type: ignore[arg-type]
    text = ""
    usage = None
    for chunk in client.chat.completions.create(
        model=MODEL,
        messages=ASK,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    ):
        text += "".join(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert text == unary.choices[0].message.content
    assert usage is not None and usage.total_tokens == unary.usage.total_tokens  # type: ignore[union-attr]
    params = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
    }
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": params}}]
    calls: dict[int, str] = {}
    finish = []
    for chunk in client.chat.completions.create(
        model=MODEL,
        messages=ASK,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        tool_choice="required",
        stream=True,
    ):
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                calls[tc.index] = calls.get(tc.index, "") + (tc.function.arguments or "")  # type: ignore[union-attr]
            if c.finish_reason:
                finish.append(c.finish_reason)
    args = json.loads(calls[0])
    assert isinstance(args["city"], str) and args["days"] >= 1 and finish == ["tool_calls"]
    named = client.chat.completions.create(
        model=MODEL,
        messages=ASK,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert named.choices[0].finish_reason == "stop"  # legal for a named tool_choice, as OpenAI does
    assert json.loads(named.choices[0].message.tool_calls[0].function.arguments)["days"] >= 1  # type: ignore[index,union-attr]


def test_stop_json_schema_and_errors(server: str) -> None:
    full = chat(server, {"model": MODEL, "messages": ASK}).json()["choices"][0]["message"]["content"]
    stop_word = full.split()[3]
    cut = chat(server, {"model": MODEL, "messages": ASK, "stop": ["never-there", stop_word]}).json()["choices"][0]
    assert cut["finish_reason"] == "stop" and stop_word not in cut["message"]["content"]
    assert full.startswith(cut["message"]["content"])
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 8},
            "age": {"type": "integer", "minimum": 18, "maximum": 30},
            "tags": {"type": "array", "items": {"enum": ["a", "é"]}, "minItems": 2},
            "ok": {"type": "boolean"},
        },
        "required": ["name", "age", "tags", "ok"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": schema}}
    content = chat(server, {"model": MODEL, "messages": ASK, "response_format": fmt}).json()["choices"][0]["message"]
    jsonschema.validate(json.loads(content["content"]), schema)
    assert set(LEXICON)  # the lexicon is non-empty and importable
    # errors: OpenAI bodies, statuses 401 / 404 / 400 / 422
    assert chat(server, {"model": MODEL, "messages": ASK}, headers={}).status_code == 401
    assert chat(server, {"model": MODEL, "messages": ASK}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert chat(server, {"model": MODEL, "messages": ASK}, headers={"Authorization": f"bEaReR {API_KEY}"}).is_success
    cases = [
        ({"model": "nope", "messages": ASK}, 404),
        ({"model": MODEL}, 400),
        ({"model": MODEL, "messages": "hi"}, 400),
        ({"model": MODEL, "messages": ASK, "temperature": 3}, 400),
        ({"model": MODEL, "messages": ASK, "n": 0}, 400),
        ({"model": MODEL, "messages": ASK, "top_logprobs": 21, "logprobs": True}, 400),
        ({"model": MODEL, "messages": ASK, "stop": ["a", "b", "c", "d", "e"]}, 400),
        ({"model": MODEL, "messages": ASK, "stream_options": {"include_usage": True}}, 400),
        ({"model": MODEL, "messages": ASK, "temperature": "hot"}, 422),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 422),
    ]
    for body, status in cases:
        r = chat(server, body)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()["error"]) == {"code", "param", "type", "message"}
    bad_json = httpx.post(f"{server}/v1/chat/completions", content=b"{nope", headers=AUTH)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["param"] is None
