"""``llmconform check``: target -> plan -> probes, properties, schemathesis -> results.

The runner owns the order of the phases and the budget split; it starts the embedded mock when no URL
is given, and turns what went wrong into an exit code: a broken rule is 1, a configuration problem 2,
an unreachable target or a harness failure 3. Reports are written by the caller from the returned
:class:`~llmconform.conformance.outcome.ConformanceRun`, also when the run ended early.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from llmconform import versions
from llmconform.checks import REGISTRY, Results, exchange_rules
from llmconform.client import ClientLimits, TargetClient
from llmconform.config import CheckConfig
from llmconform.conformance.chat_properties import run_chat_properties
from llmconform.conformance.families import FAMILY_CHECKS, FamilyCheck
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.conformance.probe_steps import KeyRefused
from llmconform.conformance.schemathesis_run import run_schemathesis
from llmconform.conformance.session import Budget, BudgetExhausted, Session, TargetHanging, TargetUnreachable
from llmconform.exchange import Exchange
from llmconform.families import GENERATION_FAMILIES, build_request
from llmconform.families.chat import (
    MODELS_OPERATION,
    MODELS_PATH,
    listed_model_ids,
    pick_chat_model,
    pick_embedding_model,
)
from llmconform.mock import MockServer
from llmconform.redact import Redactor
from llmconform.report.check_journal import CheckJournal
from llmconform.spec import load_document


class ConfigurationProblem(Exception):
    """The run cannot start as configured (exit 2); the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How many requests each phase may send."""

    probes: int
    properties: int
    # family -> (positive, negative) schemathesis examples per operation with a request body
    cases: dict[str, tuple[int, int]]
    # family -> number of schemathesis cases its operations take (bodyless operations: one each)
    schemathesis_by_family: dict[str, int]
    # the request cap, if any: a plan whose probes alone exceed it stops there
    budget: int | None = None

    @property
    def schemathesis(self) -> int:
        return sum(self.schemathesis_by_family.values())

    @property
    def total(self) -> int:
        planned = self.probes + self.properties + self.schemathesis
        return planned if self.budget is None else min(planned, self.budget)

    def describe(self) -> str:
        parts = ", ".join(f"{family} {count}" for family, count in self.schemathesis_by_family.items() if count)
        capped = (
            f" (the budget; the phases below would take {self.probes + self.properties + self.schemathesis})"
            if self.budget is not None and self.budget < self.probes + self.properties + self.schemathesis
            else ""
        )
        return (
            f"at most {self.total} requests{capped}: {self.probes} probes, {self.properties} property examples, "
            f"{self.schemathesis} schemathesis cases ({parts or 'none'})"
        )


Reporter = Callable[[str], None]
PhaseHook = Callable[[str, int], None]


def _operations(check: FamilyCheck) -> tuple[int, int]:
    """(operations with a JSON request body, operations without one) of a family's document."""
    if check.document is None:
        return 0, 0
    with_body = without = 0
    for path in load_document(check.document).get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or (
                check.operations is not None and operation.get("operationId") not in check.operations
            ):
                continue
            body = operation.get("requestBody")
            if isinstance(body, dict) and "application/json" in body.get("content", {}):
                with_body += 1
            else:
                without += 1
    return with_body, without


def make_plan(
    config: CheckConfig, resolve_model: bool, families: tuple[str, ...] | None = None, spent: int = 0
) -> Plan:
    """Fit the phases into the budget: probes first, then properties and schemathesis shrink to fit.

    ``families`` (default: the configured ones) and ``spent`` re-plan a run once it knows which families
    the target serves, so a budget is not reserved for formats that answered 404.
    """
    checks = [FAMILY_CHECKS[name] for name in (families if families is not None else config.families)]
    # one "is it served?" request per family beyond chat and the model list (see _served), unless re-planning
    asks_served = families is None
    formats = [check.name for check in checks if check.name in GENERATION_FAMILIES]
    probes = sum(
        (check.planned_requests if check.name != "consistency" or len(formats) >= 2 else 0)
        + int(asks_served and check.document not in (None, "chat"))
        for check in checks
    )
    probes += 1 if resolve_model and "models" not in config.families else 0
    # listing the models to find an embeddings model (see _embedding_model)
    probes += int("embeddings" in config.families and not config.target.embedded and not config.target.embedding_model)
    properties = config.property_examples if any(check.properties for check in checks) else 0
    shape = {check.name: _operations(check) for check in checks}
    fixed = sum(without for _, without in shape.values())
    body_operations = sum(with_body for with_body, _ in shape.values())
    positive, negative = config.positive_examples, config.negative_examples
    budget = None if config.budget is None else max(0, config.budget - spent)
    if budget is not None:
        left = max(0, budget - probes - fixed)
        properties = min(properties, left // 4)
        left -= properties
        per_operation = left // body_operations if body_operations else 0
        if positive + negative > per_operation:
            total = positive + negative
            positive = (per_operation * positive) // total if total else 0
            negative = per_operation - positive
    caps = {check.name: check.examples_cap or (positive, negative) for check in checks}
    cases = {
        name: (min(positive, caps[name][0]) if with_body else int(without > 0),
               min(negative, caps[name][1]) if with_body else 0)
        for name, (with_body, without) in shape.items()
    }  # fmt: skip
    by_family = {
        name: with_body * (cases[name][0] + cases[name][1]) + without for name, (with_body, without) in shape.items()
    }
    return Plan(probes, properties, cases, by_family, config.budget)


def environment() -> dict[str, str]:
    """Versions and platform, for the report."""
    return versions.environment(("llmconform", "schemathesis", "hypothesis", "httpx"))


def run_check(
    config: CheckConfig,
    *,
    command: list[str],
    say: Reporter,
    on_phase: PhaseHook | None = None,
    on_sent: Callable[[Exchange], None] | None = None,
) -> tuple[ConformanceRun, Redactor]:
    """Run every phase against the configured target and return the outcome (never raises for the target)."""
    redactor = Redactor([config.target.key()])
    started = time.perf_counter()
    run = ConformanceRun(
        target="",
        embedded_mock=config.target.embedded,
        model=config.target.model or "",
        families=list(config.families),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        budget=config.budget,
        command=command,
        environment=environment(),
        config=config.model_dump(mode="json", exclude={"target": {"api_key"}, "mock": {"api_key"}}),
    )
    run.results = Results()
    journal: CheckJournal | None = None
    mock: MockServer | None = None
    client: TargetClient | None = None
    session: Session | None = None
    try:
        if config.target.embedded:
            mock_config = config.mock
            if config.target.key() is not None:
                mock_config = mock_config.model_copy(update={"api_key": config.target.key()})
            mock = MockServer(mock_config)
            base_url = mock.start()
            api_key: str | None = mock_config.api_key
            model = config.target.model or mock_config.models[0]
        else:
            assert config.target.base_url is not None
            base_url, api_key, model = config.target.base_url, config.target.key(), config.target.model or ""
        redactor.add(api_key)
        run.target = redactor.url(base_url) + (" (embedded mock)" if mock is not None else "")
        limits = config.limits
        client = TargetClient(
            base_url,
            api_key,
            ClientLimits(
                connect_timeout_s=limits.connect_timeout_s,
                read_timeout_s=limits.read_timeout_s,
                deadline_s=limits.deadline_s,
                max_body_bytes=limits.max_body_bytes,
                max_line_bytes=limits.max_line_bytes,
            ),
        )
        plan = make_plan(config, resolve_model=not model)
        run.planned_requests = plan.total
        journal = CheckJournal(config.report_dir, redactor)
        run.results.on_finding = journal.finding
        session = Session(client, run.results, Budget(config.budget), model, exchange_rules(), _both(journal, on_sent))
        session.media_models = dict(config.target.media_models)
        stage_s = config.mock.video_stage_ms / 1000 if mock is not None else None
        session.task_poll_interval_s, session.task_deadline_s = config.task_polling.resolved(stage_s)
        budget_text = "unlimited (embedded mock)" if config.budget is None else f"at most {config.budget} requests"
        say(f"Target {run.target}; plan: {plan.describe()}; budget: {budget_text}")
        _run_phases(config, session, plan, say, on_phase)
        run.model = session.model
        run.results.notes.extend(session.notes)
        run.exit_code = ExitCode.BROKEN if run.results.has_errors else ExitCode.OK
    except TargetHanging as exc:
        # The target answered at first, then stopped answering in time: that is a finding (exit 1).
        run.results.notes.append(redactor.text(f"the run stopped early: {exc}"))
        run.exit_code, run.partial = ExitCode.BROKEN, True
    except TargetUnreachable as exc:
        run.exit_code, run.error = ExitCode.HARNESS, redactor.text(f"target unreachable: {exc}")
        run.partial = True
    except (KeyRefused, ConfigurationProblem) as exc:
        run.exit_code, run.error = ExitCode.USAGE, redactor.text(_fix_hint(exc))
        run.partial = True
    except KeyboardInterrupt:
        # SIGINT (and SIGTERM, which the CLI turns into the same): keep what was measured, marked partial.
        run.exit_code, run.error, run.partial = ExitCode.HARNESS, "interrupted before the run finished", True
    except Exception as exc:  # the harness itself failed: report it, never a raw traceback with secrets
        if os.environ.get("LLMCONFORM_DEBUG"):
            raise
        run.exit_code, run.error = (
            ExitCode.HARNESS,
            redactor.text(f"harness failure: {type(exc).__name__}: {exc}"),
        )
        run.partial = True
    finally:
        if journal is not None:
            journal.close()
        if session is not None:
            run.sent_requests = session.exchanges_sent
        if client is not None:
            client.close()
        if mock is not None:
            mock.stop()
        run.duration_s = round(time.perf_counter() - started, 3)
        run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return run, redactor


def _both(journal: CheckJournal, on_sent: Callable[[Exchange], None] | None) -> Callable[[Exchange], None]:
    """Journal every exchange, then tell the caller (the progress bar)."""

    def sent(exchange: Exchange) -> None:
        journal.exchange(exchange)
        if on_sent is not None:
            on_sent(exchange)

    return sent


def _fix_hint(exc: Exception) -> str:
    if isinstance(exc, KeyRefused):
        return (
            f"{exc}. Pass a valid key with --api-key or the LLMCONFORM_API_KEY environment variable "
            "(the harness needs one accepted key to judge the contract)."
        )
    return str(exc)


def _run_phases(config: CheckConfig, session: Session, plan: Plan, say: Reporter, on_phase: PhaseHook | None) -> None:
    def phase(name: str, total: int) -> None:
        if on_phase is not None:
            on_phase(name, total)

    try:
        if not session.model:
            phase("resolving model", 1)
            session.model = _first_listed_model(session)
            say(f"No --model given: checking {session.model!r}, the first chat model the target lists")
        if "embeddings" in config.families:
            session.embedding_model = config.target.embedding_model or _embedding_model(session, config)
        if "models" in config.families:  # the model list first: it needs no "served?" question
            phase("models probes", FAMILY_CHECKS["models"].planned_requests)
            FAMILY_CHECKS["models"].run_probes(session)
        asked = [name for name in config.families if FAMILY_CHECKS[name].document not in (None, "chat")]
        phase("formats served", len(asked))
        unserved = {name for name in asked if not _served(session, name)}
        session.unserved |= unserved
        families = tuple(name for name in config.families if name not in unserved)
        remaining = [name for name in families if name != "models"]
        if unserved:
            plan = make_plan(config, resolve_model=False, families=families, spent=session.budget.used)
            say(f"Not served: {', '.join(sorted(unserved))} (not judged); plan now: {plan.describe()}")
        for name in remaining:
            check = FAMILY_CHECKS[name]
            phase(f"{name} probes", check.planned_requests)
            check.run_probes(session)
            if check.properties:
                phase(f"{name} properties (hypothesis)", plan.properties)
                run_chat_properties(session, plan.properties, config.seed)
        phase("schemathesis", plan.schemathesis)
        run_schemathesis(session, cases=plan.cases, seed=config.seed)
    except BudgetExhausted:
        session.notes.append(
            f"the request budget ({session.budget.limit}) was spent before every phase finished; "
            "raise --max-requests to check more"
        )


def _served(session: Session, family: str) -> bool:
    """Whether the target serves ``family`` at all: one small request for the model under test. A 404 or 405
    (no such route, or no such model behind this format) marks the family's rules "not judged" with a note,
    so ``--family all`` against a server that speaks fewer formats reports what it does speak."""
    model = session.model_for(family)
    method, path, operation, body = build_request(
        family, model, [{"role": "user", "content": "Say hello."}], max_tokens=8, stream=False
    )
    exchange = session.send(
        method, path, operation=operation, family=family, label=f"{family}: served?", json_body=body, judge=False
    )
    if exchange.status not in (404, 405):
        if exchange.error is None:  # a transport failure was judged by Session.send already
            session.judge_exchange(exchange)
        return True
    why = f"the target answered {exchange.status} to {method} {path} for model {model!r}: it does not serve {family}"
    session.notes.append(f"{family}: not judged; {why}")
    for rule in REGISTRY:
        if rule.family == family:
            session.skip(rule.id, why)
    return False


def _embedding_model(session: Session, config: CheckConfig) -> str:
    """The first listed embeddings model; the model under test when none is listed (or on the mock, which
    serves every format for every model)."""
    if config.target.embedded:
        return session.model
    exchange = session.send(
        "GET", MODELS_PATH, operation=MODELS_OPERATION, family="models", label="resolve embeddings model"
    )
    model = pick_embedding_model(listed_model_ids(exchange)) if exchange.ok else None
    if model is None:
        session.notes.append(
            f"embeddings: no listed model names an embeddings model; checking with {session.model!r} "
            "(pass --embedding-model to choose)"
        )
    return model or session.model


def _first_listed_model(session: Session) -> str:
    exchange = session.send("GET", MODELS_PATH, operation=MODELS_OPERATION, family="models", label="resolve model")
    if exchange.status == 401:
        raise KeyRefused("GET /v1/models answered 401 to the configured key")
    model = pick_chat_model(listed_model_ids(exchange))
    if model is None:
        raise ConfigurationProblem(
            f"no --model given and GET {MODELS_PATH} did not list one ({exchange.status or exchange.error}); "
            "pass the model to check with --model"
        )
    return model
