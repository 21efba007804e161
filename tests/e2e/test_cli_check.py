"""`llmconform check` as a user runs it: a subprocess against the mock on 127.0.0.1:0, exit codes 0-3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llmconform.mock import MockConfig, MockServer

SECRET = "sk-e2e-Recognisable-Secret-4242"
CLI = [sys.executable, "-m", "llmconform.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        check=False,
    )


def test_clean_embedded_mock_exits_0_and_writes_reports(tmp_path: Path) -> None:
    # Three families keep this within its time; every family's clean run is test_rules_fire's (in process)
    # and make demo's (this same CLI).
    result = run_cli("check", "--family", "models,chat,embeddings", "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "conformance.json").read_text())
    assert report["summary"]["verdict"] == "passed"
    assert report["findings"] == []
    assert (tmp_path / "junit.xml").read_text().startswith("<?xml")
    assert "PASSED" in result.stdout


def test_a_broken_target_exits_1_and_names_the_rule(tmp_path: Path) -> None:
    with MockServer(MockConfig(api_key=SECRET, faults=frozenset({"usage_total_is_sum"}))) as server:
        result = run_cli(
            "check",
            "--base-url",
            server.base_url,
            "--model",
            "llmconform-mock-small",
            "--report-dir",
            str(tmp_path),
            env={"LLMCONFORM_API_KEY": SECRET},
        )
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "conformance.json").read_text())
    assert {f["rule"] for f in report["findings"]} == {"usage_total_is_sum"}
    assert "FAILED" in result.stdout
    for text in (result.stdout, result.stderr, *(p.read_text() for p in tmp_path.iterdir())):
        assert SECRET not in text


def test_a_live_url_gets_a_stated_budget(tmp_path: Path) -> None:
    with MockServer(MockConfig(api_key=SECRET)) as server:
        result = run_cli(
            "check", "--base-url", server.base_url, "--api-key", SECRET, "--max-requests", "30",
            "--report-dir", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "at most 30 requests" in result.stderr
    summary = json.loads((tmp_path / "conformance.json").read_text())["summary"]
    assert summary["sent_requests"] <= 30
    assert summary["model"] == "llmconform-mock-small"  # no --model: the first listed one
    assert SECRET not in result.stdout + result.stderr + (tmp_path / "conformance.json").read_text()


@pytest.mark.parametrize(
    ("args", "expected_text"),
    [
        (("check", "--max-requests", "0"), "--max-requests"),
        (("check", "--family", "nope"), "unknown family 'nope'"),
        (("check", "--base-url", "ftp://example.invalid"), "http:// or https://"),
        (("check", "--no-such-flag"), "No such option"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(args: tuple[str, ...], expected_text: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert expected_text in result.stderr


def test_a_refused_key_exits_2(tmp_path: Path) -> None:
    with MockServer(MockConfig(api_key=SECRET)) as server:
        result = run_cli(
            "check", "--base-url", server.base_url, "--api-key", "sk-wrong-key-123456", "--model",
            "llmconform-mock-small", "--report-dir", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--api-key" in result.stdout


def test_an_unreachable_target_exits_3(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    result = run_cli("check", "--base-url", f"http://127.0.0.1:{port}", "--model", "m", "--report-dir", str(tmp_path))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unreachable" in result.stdout
    report = json.loads((tmp_path / "conformance.json").read_text())
    assert report["summary"]["verdict"] == "error"


def test_the_mock_lists_every_fault_under_its_family() -> None:
    from llmconform.mock.faults import FAULTS_BY_FAMILY

    result = run_cli("mock", "--list-faults")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for family, faults in FAULTS_BY_FAMILY.items():
        start = lines.index(f"# {family}")
        listed = {line.split()[0] for line in lines[start + 1 : start + 1 + len(faults)]}
        assert listed == set(faults), family
