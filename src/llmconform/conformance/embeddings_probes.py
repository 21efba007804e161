"""Probes of the embeddings family: requests sent on purpose to test request -> response relations, each
judged by a relation rule in :mod:`llmconform.checks.embeddings`; every answer is also judged by every
exchange rule (count, order, dimensions, encodings, usage, shape).

The baseline embeds three inputs, the first and last identical, and is sent twice: the vectors must repeat
(within one request and across the two). Only then is the base64 answer to the same inputs held to the
float vectors. Single inputs are compared with the batch for usage; one request asks for ``dimensions``
and one sends token ids. The rest are requests the target must refuse.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from llmconform.checks.embeddings import (
    embeddings_auth_required,
    embeddings_base64_matches_float,
    embeddings_deterministic,
    embeddings_input_limits_enforced,
    embeddings_invalid_request_rejected,
    embeddings_unknown_model_rejected,
    embeddings_usage_additive,
)
from llmconform.conformance.probe_steps import InvalidRequest, KeyRefused, judge_invalid_requests, probe_bearer_auth
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.embeddings import (
    EMBEDDINGS_OPERATION,
    EMBEDDINGS_PATH,
    FAMILY,
    MAX_INPUTS,
    embeddings_request,
)
from llmconform.json_numbers import as_int

FIRST = "The lighthouse keeper lit the lamp at dusk."
SECOND = "Waves broke against the rocks below the tower."
# The baseline: the first input twice, so one request shows whether identical inputs get one vector.
BASELINE_INPUTS = [FIRST, SECOND, FIRST]
DUPLICATES = [(0, 2)]
# A shortened size every model that supports `dimensions` can give (text-embedding-3-small: up to 1536).
DIMENSIONS = 32
# Token ids: two short arrays (valid cl100k ids, but any integers are legal under the contract).
TOKEN_INPUTS = [[791, 23847, 19046], [54, 5977, 1438, 2403]]

# Requests each probe sends, so the run can state its plan before it starts.
PLANNED: dict[str, int] = {
    "baseline": 2,
    "base64": 1,
    "dimensions": 1,
    "singles": 2,
    "token_ids": 1,
    "auth": 2,
    "unknown_model": 1,
    "invalid": 5,
    "limits": 4,
}
# Upper bound of the requests run_embeddings_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {"dimensions": 64}


def _send(session: Session, body: Any, label: str, **kwargs: Any) -> Exchange:
    return session.send(
        "POST",
        EMBEDDINGS_PATH,
        operation=EMBEDDINGS_OPERATION,
        family=FAMILY,
        label=f"embeddings {label}",
        json_body=body,
        **kwargs,
    )


def _model(session: Session) -> str:
    """The model the embeddings probes name (the run's embeddings model when it has one)."""
    return session.model_for(FAMILY)


def run_embeddings_probes(session: Session) -> None:
    """Send the family's probes through session and judge the relations."""
    baseline = probe_baseline(session)
    probe_dimensions(session)
    probe_token_ids(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)
    probe_input_limits(session)
    if baseline is None:
        for rule in ("embeddings_deterministic", "embeddings_base64_matches_float", "embeddings_usage_additive"):
            session.skip(rule, "the baseline embeddings request got no 2xx answer")


def probe_baseline(session: Session) -> Exchange | None:
    """The baseline twice (determinism), then in base64 (same vectors) and input by input (usage)."""
    model = _model(session)
    first = _send(session, embeddings_request(model, BASELINE_INPUTS), "baseline: 3 inputs")
    if first.status == 401:
        raise KeyRefused("the embeddings endpoint answered 401 to the configured key")
    if not first.ok:
        return None
    second = _send(session, embeddings_request(model, BASELINE_INPUTS), "baseline: repeated")
    deterministic = False
    if second.ok:
        deterministic = session.judge(
            "embeddings_deterministic", embeddings_deterministic(first, second, DUPLICATES), second, first
        )
    else:
        session.skip("embeddings_deterministic", f"the repeated baseline got {second.status or second.error}")
    encoded = _send(session, embeddings_request(model, BASELINE_INPUTS, encoding_format="base64"), "base64: 3 inputs")
    if not encoded.ok:
        session.skip("embeddings_base64_matches_float", f"the base64 request got {encoded.status or encoded.error}")
    elif deterministic:
        session.judge(
            "embeddings_base64_matches_float", embeddings_base64_matches_float(first, encoded), encoded, first
        )
    else:
        session.skip("embeddings_base64_matches_float", "the target did not repeat its vectors for the same input")
    probe_singles(session, first)
    return first


def probe_singles(session: Session, batch: Exchange) -> None:
    """Each distinct baseline input alone (one as a bare string, one as a one-item array)."""
    model = _model(session)
    alone = {
        FIRST: _send(session, embeddings_request(model, FIRST), "single: a string"),
        SECOND: _send(session, embeddings_request(model, [SECOND]), "single: a one-item array"),
    }
    if all(a.ok for a in alone.values()):
        parts = [alone[text] for text in BASELINE_INPUTS]
        session.judge("embeddings_usage_additive", embeddings_usage_additive(batch, parts), batch, *alone.values())
    else:
        session.skip("embeddings_usage_additive", "an input sent alone got no 2xx answer")


def probe_dimensions(session: Session) -> None:
    """Shortened vectors (judged by embeddings_dimensions_honoured and embeddings_vectors_normalized)."""
    body = embeddings_request(_model(session), [FIRST, SECOND], dimensions=DIMENSIONS, encoding_format="float")
    shortened = _send(session, body, f"dimensions={DIMENSIONS}")
    if not shortened.ok:
        # Models before text-embedding-3 refuse `dimensions` (400): then the rule has nothing to judge.
        session.skip(
            "embeddings_dimensions_honoured", f"dimensions={DIMENSIONS} got {shortened.status or shortened.error}"
        )


def probe_token_ids(session: Session) -> None:
    """Inputs given as token-id arrays (judged by the exchange rules)."""
    _send(session, embeddings_request(_model(session), TOKEN_INPUTS), "token ids: 2 inputs")


def probe_auth(session: Session) -> None:
    body = embeddings_request(_model(session), FIRST)
    probe_bearer_auth(session, partial(_send, session), body, "embeddings_auth_required", embeddings_auth_required)


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-embedding-model-7f3a"
    exchange = _send(session, embeddings_request(model, FIRST), "unknown model")
    session.judge("embeddings_unknown_model_rejected", embeddings_unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    model = _model(session)
    cases: list[InvalidRequest] = [
        ("a body without 'input'", {"model": model}, None),
        ("'input' that is an object", {"model": model, "input": {"text": FIRST}}, None),
        ("encoding_format 'hex'", embeddings_request(model, FIRST, encoding_format="hex"), None),
        ("dimensions 0", embeddings_request(model, FIRST, dimensions=0), None),
        ("a body that is not JSON", None, b'{"model": "x", "input": ['),
    ]
    rule = embeddings_invalid_request_rejected
    judge_invalid_requests(session, partial(_send, session), cases, "embeddings_invalid_request_rejected", rule)


def probe_input_limits(session: Session) -> None:
    """The limits OpenAI states for input: no empty string, no empty array, at most 2048 items."""
    model = _model(session)
    cases: list[tuple[str, Any]] = [
        ("an empty input string", ""),
        ("an empty input array", []),
        ("an empty string among the inputs", [FIRST, ""]),
        (f"{MAX_INPUTS + 1} inputs (at most {MAX_INPUTS})", ["lamp"] * (MAX_INPUTS + 1)),
    ]
    for what, inputs in cases:
        exchange = _send(session, embeddings_request(model, inputs), f"limits: {what}")
        session.judge("embeddings_input_limits_enforced", embeddings_input_limits_enforced(exchange, what), exchange)


# ---------------------------------------------------------------------- schemathesis pinning


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated body at model and bound what it may cost (in place).

    The model is set when the generated one is a non-empty string (an empty one may be the negative case's
    point); a valid ``dimensions`` above the generation bound is lowered to it, in both modes (an out-of-range
    value may be what a negative case tests, so only valid values are touched).
    """
    value = body.get("model")
    if positive or (isinstance(value, str) and value):
        body["model"] = model
    bound = GENERATION_BOUNDS["dimensions"]
    dimensions = as_int(body.get("dimensions"))
    if dimensions is not None and dimensions > bound:
        body["dimensions"] = bound
