"""Cross-format consistency probes: the same conversation at temperature 0 through every chat-like format
(chat completions, Claude messages, Gemini, Responses) for each model the target declares, twice: cut at
a small output limit, and left to end by itself. The answers are compared by the X1/X2 rules in
:mod:`llmconform.checks.consistency`.

Which models: the target's declared list (``GET /v1/models``), chat models only, at most
``MODELS_COMPARED`` of them, the model under test first. A format that does not serve a model (any non-2xx
answer) is left out of that model's comparison; a model reachable through fewer than two formats is
noted, not judged.
"""

from __future__ import annotations

from typing import Any

from llmconform.checks.consistency import cross_format_finish_consistent, cross_format_usage_consistent
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families import GENERATION_FAMILIES, build_request, read_answer
from llmconform.families.answer import Answer
from llmconform.families.chat import MODELS_OPERATION, MODELS_PATH, is_chat_model, listed_model_ids

PROMPT = "Write a long paragraph about lighthouses, their keepers and the sea."
SHORT_PROMPT = "Say hello."
SYSTEM = "You are a concise assistant."
# The cut: below most natural answers to PROMPT, and the smallest limit OpenAI's Responses API accepts.
# The natural end: room for a short answer.
CUT_LIMIT = 16
NATURAL_LIMIT = 64
MODELS_COMPARED = 2
PLANNED_REQUESTS = 1 + MODELS_COMPARED * len(GENERATION_FAMILIES) * 2


def compared_models(session: Session) -> list[str]:
    """The model under test, then other declared chat models, at most ``MODELS_COMPARED``."""
    listed = session.send(
        "GET", MODELS_PATH, operation=MODELS_OPERATION, family="models", label="consistency: declared models"
    )
    ids = listed_model_ids(listed) if listed.ok else []
    models = [session.model] if session.model else []
    for model in ids:
        if len(models) >= MODELS_COMPARED:
            break
        if model not in models and is_chat_model(model):
            models.append(model)
    return models[:MODELS_COMPARED]


def _ask(session: Session, family: str, model: str, prompt: str, limit: int, what: str) -> Exchange:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    method, path, operation, body = build_request(
        family, model, messages, max_tokens=limit, stream=False, temperature=0
    )
    exchange = session.send(
        method, path, operation=operation, family=family, label=f"consistency: {model} via {family}, {what}",
        json_body=body, judge=False,
    )  # fmt: skip
    # A format that does not serve the model (404/405) is no evidence of its contract; a transport failure
    # was judged by Session.send already.
    if exchange.error is None and exchange.status not in (404, 405):
        session.judge_exchange(exchange)
    return exchange


def run_consistency_probes(session: Session) -> None:
    """Send one prompt through every format, per declared model, and compare usage and finish reasons."""
    formats = [family for family in GENERATION_FAMILIES if family not in session.unserved]
    if len(formats) < 2:
        for rule in ("cross_format_usage_consistent", "cross_format_finish_consistent"):
            session.skip(rule, f"the target serves fewer than two chat formats ({', '.join(formats) or 'none'})")
        return
    judged = False
    for model in compared_models(session):
        for prompt, limit, cut, what in (
            (PROMPT, CUT_LIMIT, True, f"limit {CUT_LIMIT} tokens"),
            (SHORT_PROMPT, NATURAL_LIMIT, False, "natural end"),
        ):
            exchanges: list[Exchange] = []
            answers: dict[str, Answer] = {}
            for family in formats:
                exchange = _ask(session, family, model, prompt, limit, what)
                answer = read_answer(exchange)
                if answer is not None:
                    exchanges.append(exchange)
                    answers[family] = answer
            if len(answers) < 2:
                session.notes.append(
                    f"consistency: {model!r} answered through {len(answers)} format(s) ({what}); nothing to compare"
                )
                continue
            judged = True
            session.judge(
                "cross_format_usage_consistent",
                cross_format_usage_consistent(answers, limit if cut else None),
                *exchanges,
            )
            session.judge("cross_format_finish_consistent", cross_format_finish_consistent(answers), *exchanges)
    if not judged:
        for rule in ("cross_format_usage_consistent", "cross_format_finish_consistent"):
            session.skip(rule, "no declared model answered through two formats")
