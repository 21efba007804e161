"""The user-facing suite in conformance/ runs against the mock: green when clean, red on a fault."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_suite(faults: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCONFORM_")}
    env["LLMCONFORM_MOCK_FAULTS"] = faults
    return subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_suite_passes_on_the_clean_mock() -> None:
    result = run_suite()
    assert result.returncode == 0, result.stdout[-3000:]


def test_suite_fails_on_a_broken_mock_and_names_the_rule() -> None:
    result = run_suite("truncation_finish_reason_length")
    assert result.returncode == 1
    assert "test_max_tokens_cut_says_length FAILED" in result.stdout or "FAILED" in result.stdout
    assert "truncation_finish_reason_length" in result.stdout


def test_the_format_tests_fail_on_their_family_s_fault() -> None:
    result = run_suite("messages_truncation_stop_reason,responses_stream_sequence_numbers")
    assert result.returncode == 1
    failed = {line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED")}
    assert {"test_claude_messages", "test_responses"} <= failed, result.stdout[-3000:]
    assert not failed & {"test_gemini", "test_embeddings"}, result.stdout[-3000:]
    assert "messages_truncation_stop_reason" in result.stdout and "responses_stream_sequence_numbers" in result.stdout
