"""Report writers: contract keys, statuses, JUnit structure, and no secret in any output."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import llmconform.checks  # noqa: F401  (registers every rule)
from llmconform.checks.findings import Finding, Results
from llmconform.checks.registry import REGISTRY, Severity, Warn
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.exchange import Exchange, StreamEvent
from llmconform.redact import Redactor
from llmconform.report import (
    CheckProgress,
    conformance_document,
    render_summary,
    rule_status,
    write_conformance_json,
    write_junit,
)
from llmconform.report._redaction import mask_command
from llmconform.report.console import shown_findings

SECRET = "sk-llmconform-SECRET-0123456789abcdef"
OTHER_SECRET = "sk-other-flag-SECRET-987654321"
ILLEGAL = 'bad\x00chars\x1b[31m\x08 <&> "quoted" \ud800 \ufffe end'

FAILED_RULE = "usage_total_is_sum"
WARN_RULE = "stream_role_first"
PASSED_RULE = "usage_present"
MIXED_RULE = "n_choices_count"
UNREGISTERED = "custom.unregistered_rule"


def _exchange(*, stream: bool = False) -> Exchange:
    body = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}}
    ).encode()
    return Exchange(
        family="chat",
        operation="createChatCompletion",
        method="POST",
        url=f"http://target.example/v1/chat/completions?key={SECRET}&x=1",
        request_headers={"Authorization": f"Bearer {SECRET}", "x-api-key": SECRET, "content-type": "json"},
        request_json={"model": "m", "messages": [{"role": "user", "content": f"echo {SECRET}"}]},
        label=f"probe {SECRET}",
        status=401,
        response_headers={"content-type": "application/json", "x-echo": SECRET},
        body=b"" if stream else body,
        events=[StreamEvent(0.1, f'{{"echo": "{SECRET}"}}')] if stream else None,
        elapsed_s=0.25,
        error=f"server said {SECRET}",
    )


def _results() -> Results:
    results = Results()
    failed, warned, passed = REGISTRY.get(FAILED_RULE), REGISTRY.get(WARN_RULE), REGISTRY.get(PASSED_RULE)
    results.judge(failed, [f"total_tokens is 7, expected 5; server echoed {SECRET}"], _exchange())
    results.judge(failed, [f"second violation {ILLEGAL}"], _exchange(stream=True), related=(_exchange(),))
    results.judge(failed, [], _exchange())
    results.judge(warned, [f"first delta has no role ({SECRET})"], _exchange(stream=True))
    results.judge(passed, [], _exchange())
    results.judge(passed, [], _exchange())
    results.judge(REGISTRY.get(MIXED_RULE), [Warn("only a warning here")], _exchange())
    results.skip("stream_done_last", note=f"streaming not supported by {SECRET}")
    results.count(UNREGISTERED).passed += 1
    return results


def _run(*, exit_code: ExitCode = ExitCode.BROKEN, error: str | None = None) -> ConformanceRun:
    return ConformanceRun(
        target=f"http://target.example/?key={SECRET}",
        embedded_mock=False,
        model="m",
        families=["chat", "models"],
        started_at="2025-01-01T00:00:00Z",
        finished_at="2025-01-01T00:00:05Z",
        duration_s=5.0,
        budget=100,
        planned_requests=40,
        sent_requests=38,
        results=_results(),
        exit_code=exit_code,
        error=error,
        command=["llmconform", "check", "--api-key", SECRET, f"--api-key={OTHER_SECRET}", "--model", "m"],
        environment={"python": "3.11", "LLMCONFORM_API_KEY": SECRET},
    )


@pytest.fixture(params=["known", "unknown"], ids=["redactor-knows-key", "empty-redactor"])
def redactor(request: pytest.FixtureRequest) -> Redactor:
    """With and without the key registered: the writers learn it from the run's own requests."""
    return Redactor([SECRET]) if request.param == "known" else Redactor()


def _console_text(run: ConformanceRun, redactor: Redactor, paths: list[Path] | None = None) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    render_summary(run, console, redactor, paths=paths)
    return console.export_text()


def _assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert OTHER_SECRET not in text
    assert "0123456789abcdef" not in text


def test_no_secret_in_any_output(tmp_path: Path, redactor: Redactor) -> None:
    for run in (_run(), _run(exit_code=ExitCode.HARNESS, error=f"connect failed with key {SECRET}")):
        json_path = write_conformance_json(run, tmp_path, redactor)
        junit_path = write_junit(run, tmp_path, redactor)
        assert json_path == tmp_path / "conformance.json"
        assert junit_path == tmp_path / "junit.xml"
        _assert_no_secret(json_path.read_text(encoding="utf-8"))
        _assert_no_secret(junit_path.read_text(encoding="utf-8"))
        _assert_no_secret(_console_text(run, redactor, [json_path, junit_path]))
        assert "[REDACTED]" in json_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.json", "junit.xml"]  # no tmp files


def test_command_line_masks_api_key_both_spellings() -> None:
    masked = mask_command(["x", "--api-key", "abc", "--api-key=def", "--model", "abc"], Redactor())
    assert masked == ["x", "--api-key", "[REDACTED]", "--api-key=[REDACTED]", "--model", "abc"]
    document = conformance_document(_run(), Redactor())
    assert document["command"][2:5] == ["--api-key", "[REDACTED]", "--api-key=[REDACTED]"]
    assert document["environment"] == {"python": "3.11", "LLMCONFORM_API_KEY": "[REDACTED]"}


def test_json_has_contract_keys(tmp_path: Path) -> None:
    path = write_conformance_json(_run(), tmp_path, Redactor([SECRET]))
    document = json.loads(path.read_text(encoding="utf-8"))
    assert {"summary", "rules", "findings", "notes", "command", "environment"} <= document.keys()
    summary = document["summary"]
    assert {
        "verdict", "exit_code", "target", "embedded_mock", "model", "families", "started_at",
        "finished_at", "duration_s", "budget", "planned_requests", "sent_requests", "rules",
        "findings", "partial", "error",
    } <= summary.keys()  # fmt: skip
    assert summary["verdict"] == "failed"
    assert summary["exit_code"] == 1
    assert "REDACTED" in summary["target"]
    assert set(summary["rules"]) >= {"total", "passed", "failed", "warned", "skipped"}
    assert summary["findings"]["error"] == 2
    assert summary["findings"]["warning"] == 2
    rule_keys = {
        "id", "family", "kind", "severity", "title", "source",
        "passed", "failed", "warned", "skipped", "status",
    }  # fmt: skip
    assert all(rule_keys <= rule.keys() for rule in document["rules"])
    finding_keys = {"rule", "family", "severity", "message", "exchange", "related"}
    assert all(finding_keys <= finding.keys() for finding in document["findings"])
    first = document["findings"][0]
    assert first["exchange"]["request"]["headers"]["Authorization"] == "Bearer [REDACTED]"
    assert len(document["findings"][1]["related"]) == 1
    assert any("streaming not supported" in note for note in document["notes"])


def test_rules_listed_and_statuses() -> None:
    document = conformance_document(_run(), Redactor())
    rows = {row["id"]: row for row in document["rules"]}
    expected = {r.id for r in REGISTRY if r.family in {"chat", "models"}} | {UNREGISTERED}
    assert set(rows) == expected
    assert "model_listed" in rows
    assert any(rule_id.startswith("schemathesis.") for rule_id in rows)
    assert rows[FAILED_RULE]["status"] == "failed"
    assert (rows[FAILED_RULE]["failed"], rows[FAILED_RULE]["passed"]) == (2, 1)
    assert rows[WARN_RULE]["status"] == "warned"
    assert rows[MIXED_RULE]["status"] == "warned"
    assert rows[PASSED_RULE]["status"] == "passed"
    assert rows["stream_done_last"]["status"] == "not_run"
    assert rows["stream_done_last"]["skipped"] == 1
    assert rows["tool_call_shape"]["status"] == "not_run"
    assert rows[UNREGISTERED]["kind"] == "unregistered"
    assert rows[UNREGISTERED]["status"] == "passed"
    assert rows[UNREGISTERED]["severity"] == "unknown"
    statuses = [row["status"] for row in document["rules"]]
    summary_rules = document["summary"]["rules"]
    assert summary_rules["total"] == len(rows)
    assert summary_rules["failed"] == statuses.count("failed") == 1
    assert summary_rules["warned"] == statuses.count("warned") == 2
    assert summary_rules["skipped"] == statuses.count("not_run")
    # errors first, then by rule id
    order = [(f["severity"], f["rule"]) for f in document["findings"]]
    assert order == sorted(order, key=lambda item: (item[0] != "error", item[1]))
    assert order[0] == ("error", FAILED_RULE)


def test_only_run_families_listed() -> None:
    run = _run()
    run.families = ["chat"]
    rows = {row["id"] for row in conformance_document(run, Redactor())["rules"]}
    assert "model_listed" not in rows
    assert FAILED_RULE in rows


def test_rule_status_from_findings_alone() -> None:
    from llmconform.checks.findings import RuleCount

    finding = Finding("x", "chat", Severity.ERROR, "m")
    assert rule_status(RuleCount(), [finding]) == "failed"
    assert rule_status(RuleCount(skipped=3)) == "not_run"
    assert rule_status(RuleCount(passed=1, warned=1)) == "warned"


def _junit(tmp_path: Path, run: ConformanceRun) -> tuple[ET.Element, dict[str, Any]]:
    path = write_junit(run, tmp_path, Redactor([SECRET]))
    return ET.parse(path).getroot(), conformance_document(run, Redactor([SECRET]))


def test_junit_structure_and_counts(tmp_path: Path) -> None:
    root, document = _junit(tmp_path, _run())
    assert root.tag == "testsuites"
    assert root.get("name") == "llmconform"
    statuses = [row["status"] for row in document["rules"]]
    cases = root.findall("./testsuite/testcase")
    assert int(root.get("tests", "-1")) == len(cases) == len(document["rules"])
    assert int(root.get("failures", "-1")) == statuses.count("failed") == len(root.findall(".//failure"))
    assert int(root.get("skipped", "-1")) == statuses.count("not_run") == len(root.findall(".//skipped"))
    assert root.get("time") == "5.000"
    suites = {suite.get("name") for suite in root.findall("testsuite")}
    assert {"llmconform.chat", "llmconform.models"} <= suites
    by_name = {case.get("name"): case for case in cases}
    failed = by_name[FAILED_RULE]
    assert failed.get("classname") == "llmconform.chat"
    assert failed.get("time") == "0"
    failure = failed.find("failure")
    assert failure is not None
    assert failure.get("type") == "error"
    assert (failure.get("message") or "").startswith("total_tokens is 7, expected 5")
    text = failure.text or ""
    assert "second violation" in text
    assert '"Authorization":"Bearer [REDACTED]"' in text
    warned = by_name[WARN_RULE]
    assert warned.find("failure") is None
    assert warned.find("skipped") is None
    assert "first delta has no role" in (warned.findtext("system-out") or "")
    skipped = by_name["tool_call_shape"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "not exercised in this run"
    passed = by_name[PASSED_RULE]
    assert list(passed) == []
    assert by_name.get("harness") is None


def test_junit_illegal_xml_characters(tmp_path: Path) -> None:
    root, _ = _junit(tmp_path, _run(exit_code=ExitCode.HARNESS, error=f"boom {ILLEGAL}"))
    failure = root.find(".//testcase[@name='usage_total_is_sum']/failure")
    assert failure is not None
    assert 'badchars[31m <&> "quoted"' in (failure.text or "")
    harness = root.find(".//testcase[@name='harness']")
    assert harness is not None
    error = harness.find("error")
    assert error is not None
    assert (error.get("message") or "").startswith("boom badchars")
    assert root.get("errors") == "1"


def test_json_survives_lone_surrogates(tmp_path: Path) -> None:
    path = write_conformance_json(_run(), tmp_path, Redactor())
    document = json.loads(path.read_text(encoding="utf-8"))
    messages = [f["message"] for f in document["findings"]]
    assert any("\ufffd" in m for m in messages)


def test_console_verdicts() -> None:
    failed = _console_text(_run(), Redactor())
    assert "FAILED: 1 rule(s) broken (2 error findings, 2 warnings)" in failed
    assert FAILED_RULE in failed
    assert "\x1b" not in failed

    clean = _run(exit_code=ExitCode.OK)
    clean.results = Results()
    clean.results.judge(REGISTRY.get(PASSED_RULE), [], _exchange())
    clean.results.judge(REGISTRY.get(WARN_RULE), [Warn("meh")], _exchange())
    assert "PASSED: 2 rules held" in _console_text(clean, Redactor())

    error = _console_text(_run(exit_code=ExitCode.HARNESS, error=f"target unreachable {SECRET}"), Redactor())
    assert "ERROR: target unreachable [REDACTED]" in error
    paths = _console_text(_run(), Redactor(), [Path("out/conformance.json")])
    assert "out/conformance.json" in paths


def test_console_shows_at_most_two_findings_per_rule_and_ten_in_all() -> None:
    run = _run()
    for rule_id in ("usage_total_is_sum", "n_choices_count", "stream_done_last", "tool_call_shape",
                    "usage_present", "json_mode_content_parses"):  # fmt: skip
        for i in range(3):
            run.results.judge(REGISTRY.get(rule_id), [f"violation number {i} of {rule_id}"], None)
    text = _console_text(run, Redactor())
    assert text.count("violation number") <= 10
    assert "more finding(s)" in text
    shown = shown_findings(conformance_document(run, Redactor())["findings"])
    per_rule = Counter(f["rule"] for f in shown)
    assert len(shown) == 10
    assert max(per_rule.values()) <= 2
    assert len(per_rule) >= 5


def test_progress_plain_output_one_line_per_phase() -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    assert not console.is_terminal
    with CheckProgress(console) as progress:
        assert not progress.interactive
        progress.advance()  # before any phase: must not crash
        progress.start_phase("schema probes", 3)
        progress.advance(3)
        progress.start_phase("relation probes", None)
        progress.advance()
        progress.advance(2)
    progress.advance()  # after close: ignored
    progress.close()
    lines = console.export_text().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("requests: 1/? requests in ")
    assert lines[1].startswith("schema probes: 3/3 requests in ")
    assert lines[2].startswith("relation probes: 3/? requests in ")


def test_progress_terminal_mode() -> None:
    console = Console(record=True, width=120, file=io.StringIO(), force_terminal=True)
    with CheckProgress(console, redactor=Redactor([SECRET])) as progress:
        assert progress.interactive
        progress.start_phase(f"phase {SECRET}", None)
        progress.advance(5)
        progress.start_phase("[/oops] not markup", 1)
        progress.start_phase("bounded", 2)
        progress.advance(2)
    text = console.export_text()
    assert "bounded" in text
    assert "2/2" in text
    assert "[/oops] not markup" in text
    assert SECRET not in text
