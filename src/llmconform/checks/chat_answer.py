"""Request -> response rules that one chat answer can show on its own (rule table F, O3-O7, O6).

Each rule reads the request the answer belongs to (``exchange.request_json``) and judges the answer
against it: n choices, the max_tokens limit, stop sequences, logprobs, tool calls and JSON modes.
They apply alike to unary and streamed answers (a stream is judged on its assembled choices).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import ChoiceView, chat_view, is_chat_answer
from llmconform.families.reading import as_list, parse_json
from llmconform.json_numbers import as_int

_MAX_KEYS = ("max_completion_tokens", "max_tokens")


def _int_param(exchange: Exchange, key: str) -> int | None:
    return as_int(exchange.request_body.get(key))


def _readable(exchange: Exchange) -> bool:
    return is_chat_answer(exchange) and bool(chat_view(exchange).choices)


def _answer_parsed(exchange: Exchange) -> bool:
    if not is_chat_answer(exchange):
        return False
    view = chat_view(exchange)
    return isinstance(view.payload, dict) if not view.stream else bool(view.json_chunks)


def _requested_n(exchange: Exchange) -> int:
    n = _int_param(exchange, "n")
    return 1 if n is None else n


def _stops(exchange: Exchange) -> list[str]:
    stop = exchange.request_body.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def _limit(exchange: Exchange) -> tuple[str, int] | None:
    for key in _MAX_KEYS:
        value = _int_param(exchange, key)
        if value is not None:
            return key, value
    return None


def _completion_tokens(exchange: Exchange) -> int | None:
    usage = chat_view(exchange).usage
    return as_int(usage.get("completion_tokens")) if isinstance(usage, dict) else None


def _response_format(exchange: Exchange) -> dict[str, Any]:
    value = exchange.request_body.get("response_format")
    return value if isinstance(value, dict) else {}


def _tools_requested(exchange: Exchange) -> bool:
    return bool(exchange.request_body.get("tools")) and _readable(exchange)


@exchange_rule(
    "n_choices_count",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _answer_parsed(ex),
)
def n_choices_count(exchange: Exchange) -> Iterator[Violation]:
    """The answer has exactly n choices (n defaults to 1).

    Source: contract-rules.md F O3; OpenAI openapi.yaml CreateChatCompletionRequest.n ("How many chat
    completion choices to generate for each input message").
    """
    n = _requested_n(exchange)
    got = len(chat_view(exchange).choices)
    if got != n:
        yield f"Expected: {n} choice(s) for n={n}. Received: {got}"


@exchange_rule("choice_indices_permutation", family="chat", severity=Severity.ERROR, applies=_readable)
def choice_indices_permutation(exchange: Exchange) -> Iterator[Violation]:
    """Choice indices are exactly 0..len(choices)-1, each once.

    Source: contract-rules.md F O3; OpenAI openapi.yaml ChatCompletionChoice.index ("The index of the
    choice in the list of choices").
    """
    indices = [c.index for c in chat_view(exchange).choices]
    if sorted(i for i in indices if isinstance(i, int)) != list(range(len(indices))) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in indices
    ):
        yield f"Expected: indices {list(range(len(indices)))}. Received: {indices}"


@exchange_rule(
    "completion_within_max_tokens",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _readable(ex) and _limit(ex) is not None and _completion_tokens(ex) is not None,
)
def completion_within_max_tokens(exchange: Exchange) -> Iterator[Violation]:
    """usage.completion_tokens never exceeds the requested max_tokens / max_completion_tokens.

    Source: contract-rules.md F O4; OpenAI openapi.yaml CreateChatCompletionRequest.max_completion_tokens
    ("An upper bound for the number of tokens that can be generated").
    """
    limit = _limit(exchange)
    used = _completion_tokens(exchange)
    assert limit is not None and used is not None
    key, k = limit
    n = len(chat_view(exchange).choices) or 1
    # completion_tokens sums over all choices; each choice is bounded by k.
    if used > k * n:
        yield f"Expected: completion_tokens <= {key} ({k}) x {n} choice(s). Received: completion_tokens == {used}"


@exchange_rule(
    "stop_sequence_excluded",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _readable(ex) and bool(_stops(ex)),
)
def stop_sequence_excluded(exchange: Exchange) -> Iterator[Violation]:
    """The answer text never contains a requested stop sequence.

    Source: contract-rules.md F O5; OpenAI openapi.yaml StopConfiguration ("The returned text will not
    contain the stop sequence").
    """
    for choice in chat_view(exchange).choices:
        for stop in _stops(exchange):
            if choice.text and stop in choice.text:
                at = choice.text.index(stop)
                yield (
                    f"choice {choice.index}: Expected: no {stop!r} in the text. Received: it at offset {at}: "
                    f"...{choice.text[max(0, at - 20) : at + len(stop) + 20]!r}"
                )


def _logprobs_requested(exchange: Exchange) -> bool:
    return exchange.request_body.get("logprobs") is True


def _text_choices(exchange: Exchange) -> list[ChoiceView]:
    return [c for c in chat_view(exchange).choices if c.text]


@exchange_rule(
    "logprobs_absent_unless_requested",
    family="chat",
    severity=Severity.WARNING,
    applies=lambda ex: _readable(ex) and not _logprobs_requested(ex),
)
def logprobs_absent_unless_requested(exchange: Exchange) -> Iterator[Violation]:
    """Without logprobs=true, choices carry no log probabilities (logprobs is null or absent).

    Source: contract-rules.md F O7; OpenAI openapi.yaml CreateChatCompletionRequest.logprobs ("Whether to
    return log probabilities"); vLLM test_chat.py (logprobs=False -> logprobs is None).
    """
    for choice in chat_view(exchange).choices:
        if choice.logprobs is not None:
            yield f"choice {choice.index}: Expected: logprobs null when not requested. Received: logprobs object"


@exchange_rule(
    "top_logprobs_count",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _readable(ex) and _logprobs_requested(ex) and bool(_text_choices(ex)),
)
def top_logprobs_count(exchange: Exchange) -> Iterator[Violation]:
    """With logprobs=true every text choice has logprobs.content, each entry listing top_logprobs alternatives.

    Source: contract-rules.md F O7; OpenAI openapi.yaml CreateChatCompletionRequest.top_logprobs (the number
    of most likely tokens to return at each token position); vLLM test_chat.py (top_logprobs=5 -> 5 entries,
    top_logprobs=0 -> empty lists).
    """
    wanted = _int_param(exchange, "top_logprobs") or 0
    for choice in _text_choices(exchange):
        if choice.logprob_entries is None:
            yield f"choice {choice.index}: Expected: logprobs.content (logprobs=true). Received: {choice.logprobs!r}"
            continue
        for position, entry in enumerate(choice.logprob_entries):
            top = entry.get("top_logprobs") if isinstance(entry, dict) else None
            if not isinstance(top, list) or len(top) != wanted:
                got = len(top) if isinstance(top, list) else top
                yield f"choice {choice.index} token {position}: Expected: {wanted} top_logprobs. Received: {got}"
                return


@exchange_rule(
    "logprob_values_valid",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _readable(ex) and _logprobs_requested(ex),
)
def logprob_values_valid(exchange: Exchange) -> Iterator[Violation]:
    """Every logprob (chosen and top alternatives) is a number <= 0.

    Source: contract-rules.md F O7; OpenAI openapi.yaml ChatCompletionTokenLogprob.logprob (a log
    probability; -9999.0 marks "very unlikely"); llama.cpp test_chat_completion.py (logprob <= 0).
    """
    for choice in chat_view(exchange).choices:
        for position, entry in enumerate(choice.logprob_entries or []):
            if not isinstance(entry, dict):
                continue
            values = [entry.get("logprob")] + [
                t.get("logprob") for t in as_list(entry.get("top_logprobs")) if isinstance(t, dict)
            ]
            for value in values:
                if not isinstance(value, int | float) or isinstance(value, bool) or value > 0:
                    yield f"choice {choice.index} token {position}: Expected: logprob <= 0. Received: {value!r}"
                    return


@exchange_rule(
    "logprobs_token_count",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _readable(ex) and _logprobs_requested(ex) and bool(_text_choices(ex)),
)
def logprobs_token_count(exchange: Exchange) -> Iterator[Violation]:
    """The logprobs tokens, joined in order, spell the choice's text (one entry per output token).

    Source: contract-rules.md F O7; OpenAI openapi.yaml ChatCompletionLogprobs.content ("A list of message
    content tokens with log probability information"); llama.cpp test_chat_completion.py (joined tokens ==
    content).
    """
    for choice in _text_choices(exchange):
        entries = [e for e in choice.logprob_entries or [] if isinstance(e, dict)]
        if not entries:
            continue  # absence is top_logprobs_count's finding
        text = choice.text or ""
        # A stop sequence may end the text inside a token, and servers differ on whether the stop's own
        # tokens keep their logprobs: then the tokens need only begin with the text.
        stop_cut = bool(_stops(exchange)) and choice.finish_reason == "stop"
        relation = "begin with" if stop_cut else "spell"
        if all(isinstance(e.get("bytes"), list) for e in entries):
            try:
                joined_bytes = bytes(b for e in entries for b in e["bytes"])
            except (ValueError, TypeError):
                joined_bytes = None
            wanted = text.encode("utf-8")
            held = joined_bytes is not None and (
                joined_bytes.startswith(wanted) if stop_cut else joined_bytes == wanted
            )
            if not held:
                shown = joined_bytes.decode("utf-8", "replace") if joined_bytes is not None else None
                yield (
                    f"choice {choice.index}: Expected: the {len(entries)} logprobs entries' bytes to {relation} "
                    f"the text ({len(text)} chars). Received: {shown!r:.120}"
                )
        else:
            joined = "".join(str(e.get("token", "")) for e in entries)
            if not (joined.startswith(text) if stop_cut else joined == text):
                yield Warn(
                    f"choice {choice.index}: Expected: logprobs tokens to {relation} the text. "
                    f"Received: {joined!r:.120} vs text {text!r:.120}"
                )


@exchange_rule("tool_call_shape", family="chat", severity=Severity.ERROR, applies=_tools_requested)
def tool_call_shape(exchange: Exchange) -> Iterator[Violation]:
    """Each tool call has an id, type "function", a function name and arguments as a JSON-encoded string.

    Source: contract-rules.md F O6; OpenAI openapi.yaml ChatCompletionMessageToolCall (function.arguments:
    "The arguments to call the function with, as generated by the model in JSON format"); TGI #2136.
    """
    view = chat_view(exchange)
    for choice in view.choices:
        truncated = choice.finish_reason == "length"
        for call in choice.tool_calls:
            where = f"choice {choice.index} tool call {call.index}"
            if not isinstance(call.id, str) or not call.id:
                yield f"{where}: Expected: a non-empty string id. Received: {call.id!r}"
            if call.type != "function":
                yield f"{where}: Expected: type 'function'. Received: {call.type!r}"
            if not isinstance(call.name, str) or not call.name:
                yield f"{where}: Expected: function.name. Received: {call.name!r}"
            if not isinstance(call.arguments, str):
                yield (
                    f"{where}: Expected: function.arguments as a JSON-encoded string. "
                    f"Received: {type(call.arguments).__name__} {call.arguments!r:.80}"
                )
            elif not truncated:
                try:
                    parse_json(call.arguments)
                except ValueError as exc:
                    yield f"{where}: Expected: arguments that parse as JSON. Received: {call.arguments!r:.80} ({exc})"


@exchange_rule("tool_calls_finish_reason", family="chat", severity=Severity.ERROR, applies=_readable)
def tool_calls_finish_reason(exchange: Exchange) -> Iterator[Violation]:
    """finish_reason "tool_calls" comes only with at least one tool call.

    Source: contract-rules.md F O6; OpenAI openapi.yaml ChatCompletionChoice.finish_reason ("tool_calls if
    the model called a tool").
    """
    for choice in chat_view(exchange).choices:
        if choice.finish_reason == "tool_calls" and not choice.tool_calls:
            yield f"choice {choice.index}: Expected: tool_calls with finish_reason 'tool_calls'. Received: none"


def _named_tool(exchange: Exchange) -> str | None:
    choice = exchange.request_body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        return name if isinstance(name, str) else None
    return None


def _tool_names(exchange: Exchange) -> set[str]:
    names = set()
    tools = exchange.request_body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


def _tool_choice_judgeable(exchange: Exchange) -> bool:
    """A tool_choice that the request makes satisfiable (a named function must be among the tools)."""
    if not _tools_requested(exchange) or exchange.request_body.get("tool_choice") is None:
        return False
    named = _named_tool(exchange)
    return named is None or named in _tool_names(exchange)


@exchange_rule(
    "tool_choice_honoured",
    family="chat",
    severity=Severity.ERROR,
    applies=_tool_choice_judgeable,
)
def tool_choice_honoured(exchange: Exchange) -> Iterator[Violation]:
    """tool_choice is obeyed: "none" -> no tool call; "required" -> a tool call; a named function -> a call to it.

    Source: OpenAI openapi.yaml ChatCompletionToolChoiceOption ("none means the model will not call any
    tool ... required means the model must call one or more tools ... Specifying a particular tool forces
    the model to call that tool").
    """
    tool_choice = exchange.request_body.get("tool_choice")
    named = _named_tool(exchange)
    for choice in chat_view(exchange).choices:
        if choice.finish_reason == "length" and not choice.tool_calls:
            continue
        names = [c.name for c in choice.tool_calls]
        if tool_choice == "none" and names:
            yield f"choice {choice.index}: Expected: no tool call (tool_choice 'none'). Received: calls {names}"
        elif tool_choice == "required" and not names:
            yield f"choice {choice.index}: Expected: a tool call (tool_choice 'required'). Received: none"
        elif named is not None and named not in names:
            yield f"choice {choice.index}: Expected: a call to {named!r} (named tool_choice). Received: {names}"


def _json_mode(exchange: Exchange) -> bool:
    # A stop sequence legitimately cuts JSON short with finish_reason "stop": such answers are exempt.
    return (
        _readable(exchange)
        and _response_format(exchange).get("type") in ("json_object", "json_schema")
        and not _stops(exchange)
    )


def _finished_text(exchange: Exchange) -> list[ChoiceView]:
    return [c for c in chat_view(exchange).choices if c.finish_reason == "stop" and c.text is not None]


@exchange_rule("json_mode_content_parses", family="chat", severity=Severity.ERROR, applies=_json_mode)
def json_mode_content_parses(exchange: Exchange) -> Iterator[Violation]:
    """With response_format json_object or json_schema, a finished answer's content is valid JSON.

    Source: OpenAI openapi.yaml ResponseFormatJsonObject ("ensures the message the model generates is valid
    JSON") and ResponseFormatJsonSchema; finish_reason "length" answers are exempt (cut JSON).
    """
    for choice in _finished_text(exchange):
        try:
            parse_json(choice.text or "")
        except ValueError as exc:
            yield f"choice {choice.index}: Expected: JSON content. Received: {choice.text!r:.100} ({exc})"


@exchange_rule(
    "json_schema_content_valid",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _json_mode(ex) and _response_format(ex).get("type") == "json_schema",
)
def json_schema_content_valid(exchange: Exchange) -> Iterator[Violation]:
    """With response_format json_schema, finished content validates against the given schema (error when strict).

    Source: OpenAI openapi.yaml ResponseFormatJsonSchema.json_schema.strict ("the model will always follow
    the exact schema defined in the schema field"); without strict it is a warning.
    """
    spec = _response_format(exchange).get("json_schema")
    spec = spec if isinstance(spec, dict) else {}
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return
    strict = spec.get("strict") is True
    for choice in _finished_text(exchange):
        try:
            instance = parse_json(choice.text or "")
        except ValueError:
            continue  # json_mode_content_parses reports it
        try:
            validator = jsonschema.validators.validator_for(schema)(schema)
            error = next(iter(sorted(validator.iter_errors(instance), key=jsonschema.exceptions.relevance)), None)
        except (jsonschema.exceptions.SchemaError, TypeError, ValueError) as exc:
            yield Warn(f"the request's json_schema could not be used to validate: {exc}")
            return
        if error is not None:
            message = (
                f"choice {choice.index}: Expected: content valid against the json_schema. "
                f"Received: {error.message} at {'/'.join(map(str, error.absolute_path)) or '(root)'}"
            )
            yield message if strict else Warn(message)
