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
from llmconform.checks import Results, exchange_rules
from llmconform.client import ClientLimits, TargetClient
from llmconform.config import CheckConfig
from llmconform.conformance.chat_probes import (
    MODELS_PLANNED_REQUESTS,
    PLANNED_REQUESTS,
    KeyRefused,
    run_chat_probes,
    run_models_probes,
)
from llmconform.conformance.chat_properties import run_chat_properties
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.conformance.schemathesis_run import run_schemathesis
from llmconform.conformance.session import Budget, BudgetExhausted, Session, TargetHanging, TargetUnreachable
from llmconform.exchange import Exchange
from llmconform.families.chat import MODELS_OPERATION, MODELS_PATH, listed_model_ids, pick_chat_model
from llmconform.mock import MockServer
from llmconform.redact import Redactor


class ConfigurationProblem(Exception):
    """The run cannot start as configured (exit 2); the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How many requests each phase may send."""

    probes: int
    properties: int
    positive: int
    negative: int
    chat: bool
    models: bool

    @property
    def schemathesis(self) -> int:
        # GET /v1/models has no parameters: one positive case exists, and no negative one.
        return (self.positive + self.negative) * int(self.chat) + int(self.models)

    @property
    def total(self) -> int:
        return self.probes + self.properties + self.schemathesis

    def describe(self) -> str:
        return (
            f"at most {self.total} requests: {self.probes} probes, {self.properties} property examples, "
            f"{self.schemathesis} schemathesis cases ({self.positive} positive + {self.negative} negative "
            f"chat cases{', 1 model list case' if self.models else ''})"
        )


Reporter = Callable[[str], None]
PhaseHook = Callable[[str, int], None]


def make_plan(config: CheckConfig, resolve_model: bool) -> Plan:
    """Fit the phases into the budget: probes first, then properties and schemathesis shrink to fit."""
    chat = "chat" in config.families
    models = "models" in config.families
    probes = (sum(PLANNED_REQUESTS.values()) if chat else 0) + (MODELS_PLANNED_REQUESTS if models else 0)
    probes += 1 if resolve_model and not models else 0
    properties = config.property_examples if chat else 0
    positive, negative = (config.positive_examples, config.negative_examples) if chat else (0, 0)
    budget = config.budget
    if budget is not None:
        left = max(0, budget - probes - int(models))
        properties = min(properties, left // 4)
        left -= properties
        if positive + negative > left:
            total = positive + negative
            positive = (left * positive) // total if total else 0
            negative = left - positive
    return Plan(probes, properties, positive, negative, chat, models)


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
    )
    run.results = Results()
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
            ),
        )
        plan = make_plan(config, resolve_model=not model)
        run.planned_requests = plan.total
        session = Session(client, run.results, Budget(config.budget), model, exchange_rules(), on_sent)
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
        if session is not None:
            run.sent_requests = session.exchanges_sent
        if client is not None:
            client.close()
        if mock is not None:
            mock.stop()
        run.duration_s = round(time.perf_counter() - started, 3)
        run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return run, redactor


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
        if "models" in config.families:
            phase("model list", MODELS_PLANNED_REQUESTS)
            run_models_probes(session)
        if "chat" in config.families:
            phase("chat probes", sum(PLANNED_REQUESTS.values()))
            run_chat_probes(session)
            phase("chat properties (hypothesis)", plan.properties)
            run_chat_properties(session, plan.properties, config.seed)
        cases = {"createChatCompletion": (plan.positive, plan.negative), "listModels": (int(plan.models), 0)}
        phase("schemathesis", plan.schemathesis)
        run_schemathesis(session, cases=cases, seed=config.seed)
    except BudgetExhausted:
        session.notes.append(
            f"the request budget ({session.budget.limit}) was spent before every phase finished; "
            "raise --max-requests to check more"
        )


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
