"""schemathesis' built-in checks, registered under harness rule ids so reports and severities treat
them like our own rules. Severity follows what the check proves about an LLM API: a schemathesis
finding that shows a broken response is an error; one that only shows leniency towards invalid input
(a server that accepts more than the contract describes) is a warning.

Only the checks that judge a single response are run (see conformance/schemathesis_run.py): ignored_auth
re-sends requests outside the budget (the auth_required probe covers it) and the stateful checks do not
apply to a stateless API."""

from __future__ import annotations

from llmconform.checks.registry import Severity, schemathesis_rule

_SOURCE = "schemathesis 4.x built-in check (docs/reference/checks.md) run against openapi/chat.yaml"

SCHEMATHESIS_RULES: dict[str, tuple[Severity, str]] = {
    "not_a_server_error": (Severity.ERROR, "No request, valid or not, gets a 5xx answer"),
    "status_code_conformance": (Severity.ERROR, "Every status code returned is documented for the operation"),
    "content_type_conformance": (Severity.ERROR, "Content-Type is present and one documented for the status"),
    "response_headers_conformance": (Severity.ERROR, "Documented response headers are present and valid"),
    "response_schema_conformance": (
        Severity.ERROR,
        "The body (every SSE event) validates against the schema",
    ),
    "negative_data_rejection": (
        Severity.WARNING,
        "A request that violates the schema is rejected with a 4xx",
    ),
    "positive_data_acceptance": (Severity.WARNING, "A request that fits the schema is accepted with a 2xx"),
}

PREFIX = "schemathesis."

for _name, (_severity, _title) in SCHEMATHESIS_RULES.items():
    schemathesis_rule(f"{PREFIX}{_name}", family="chat", severity=_severity, title=_title, source=_SOURCE)


def rule_id_for(check_name: str) -> str:
    """The harness rule id for a schemathesis check name (unknown names get one registered on the fly)."""
    rule_id = f"{PREFIX}{check_name}"
    from llmconform.checks.registry import REGISTRY

    if rule_id not in REGISTRY.rules:
        schemathesis_rule(rule_id, family="chat", severity=Severity.ERROR, title=check_name, source=_SOURCE)
    return rule_id
