"""The thresholds file: every mistake names its key and the fix; waivers expire on a fixed day."""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

import pytest

from llmconform.gate.config import GateConfig, GateConfigError, RegressionMetric, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gates.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(GateConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.message


def test_example_file_parses_and_sets_every_section() -> None:
    config = load_config(EXAMPLE)
    assert config.conformance is not None
    assert config.conformance.fail_on == "error"
    assert len(config.latency) >= 3
    assert config.throughput is not None and config.errors is not None


def test_example_commented_blocks_are_valid_too() -> None:
    """The waiver and [regression] blocks that ship commented out parse when uncommented."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    uncommented = [re.sub(r"^# (\[|\w+ = )", r"\1", line) for line in lines]
    data = tomllib.loads("\n".join(uncommented))
    config = parse_config(data, "uncommented gates.toml")
    assert config.regression is not None
    assert config.regression.metrics == ["ttft.p95", "e2e.p50", "itl.p50", "throughput.output_tokens_per_s"]
    assert config.regression.tolerance == 0.10 and config.regression.resamples == 2000
    assert config.conformance is not None and config.conformance.waivers[0].rule == "usage_counts_nonzero"


def test_defaults() -> None:
    config = parse_config({"regression": {"metrics": ["e2e.p50"]}, "conformance": {}})
    assert config.regression is not None
    assert (config.regression.tolerance, config.regression.confidence) == (0.10, 0.95)
    assert (config.regression.resamples, config.regression.seed, config.regression.operation) == (2000, 0, None)
    assert config.conformance is not None and config.conformance.fail_on == "error"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[conformance]\nfail_on = 'fatal'\n", "conformance.fail_on", "'error' or 'warning'"),
        ("[conformance]\nfial_on = 'error'\n", "conformance.fial_on", "Did you mean 'fail_on'"),
        ("[conformence]\n", "conformence", "Did you mean 'conformance'"),
        ("[conformance.severity]\nusage_total_is_summ = 'error'\n", "conformance.severity", "usage_total_is_sum"),
        ("[conformance.severity]\nusage_total_is_sum = 'fatal'\n", "conformance.severity.usage_total_is_sum", "ignore"),
        (
            "[[conformance.waivers]]\nrule = 'usage_total_is_sum'\nexpires = 2027-01-01\n",
            "conformance.waivers[0].reason",
            "required",
        ),
        (
            "[[conformance.waivers]]\nrule = 'usage_total_is_sum'\nreason = 'x'\nexpires = '2027-01-01'\n",
            "conformance.waivers[0].expires",
            "TOML date without quotes",
        ),
        (
            "[[conformance.waivers]]\nrule = 'n_choice_count'\nreason = 'x'\nexpires = 2027-01-01\n",
            "conformance.waivers[0].rule",
            "n_choices_count",
        ),
        (
            "[[conformance.waivers]]\nrule = 'n_choices_count'\nreason = 'x'\nexpires = 2027-01-01\nowner = 'me'\n",
            "conformance.waivers[0].owner",
            "unknown key",
        ),
        ("[[latency]]\nmetric = 'ttfb'\npercentile = 'p95'\nmax_ms = 1\n", "latency[0].metric", "'ttft'"),
        ("[[latency]]\nmetric = 'ttft'\npercentile = 'p95'\nmax_ms = -1\n", "latency[0].max_ms", "greater than 0"),
        ("[[latency]]\nmetric = 'ttft'\npercentile = 'p95'\n", "latency[0].max_ms", "required"),
        ("[[latency]]\nmetric = 'ttft'\npercentile = 'p95'\nmax = 1\nmax_ms = 1\n", "latency[0].max", "max_ms"),
        ("[[latency]]\nmetric = 'ttft'\npercentile = 'p95'\nmax_ms = 'fast'\n", "latency[0].max_ms", "'fast'"),
        ("[throughput]\nmin_request_per_s = 1\n", "throughput.min_request_per_s", "min_requests_per_s"),
        ("[throughput]\n", "throughput", "sets no limit"),
        ("[errors]\nmax_error_rate = 5\n", "errors.max_error_rate", "less than or equal to 1"),
        ("[errors]\n", "errors", "sets no limit"),
        ("[regression]\nmetrics = ['ttft.p96']\n", "regression.metrics", "ttft.p95"),
        ("[regression]\nmetrics = ['itl_per_token.p50']\n", "regression.metrics", "itl.<stat>"),
        ("[regression]\nmetrics = ['throughput.tokens_per_s']\n", "regression.metrics", "output_tokens_per_s"),
        ("[regression]\nmetrics = []\n", "regression.metrics", "at least 1"),
        ("[regression]\nmetrics = ['e2e.p50']\ntolerance = -0.1\n", "regression.tolerance", "greater than or equal"),
        ("[regression]\nmetrics = ['e2e.p50']\nconfidence = 1.5\n", "regression.confidence", "less than 1"),
        ("[regression]\nmetrics = ['e2e.p50']\nresamples = 10\n", "regression.resamples", "100"),
        ("", "(top level)", "sets no gate"),
    ],
)
def test_bad_file_names_key_and_fix(tmp_path: Path, text: str, key: str, hint: str) -> None:
    message = error_of(tmp_path, text)
    assert str(tmp_path / "gates.toml") in message
    assert f"{key}:" in message
    assert hint in message


def test_bad_toml_names_file_and_position(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[conformance\nfail_on = 'error'\n")
    assert "not valid TOML" in message and "line 1" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match="thresholds file not found"):
        load_config(tmp_path / "nope.toml")


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[conformance]\nfail_on = 'x'\n[[latency]]\nmetric = 'ttft'\n")
    for key in ("conformance.fail_on", "latency[0].percentile", "latency[0].max_ms"):
        assert key in message


def test_duplicate_waiver(tmp_path: Path) -> None:
    waiver = "[[conformance.waivers]]\nrule = 'n_choices_count'\nreason = 'x'\nexpires = 2027-01-01\n"
    assert "waived twice" in error_of(tmp_path, waiver * 2)


def test_waiver_expiry_is_inclusive() -> None:
    config = parse_config(
        {
            "conformance": {
                "waivers": [{"rule": "n_choices_count", "reason": "r", "expires": datetime.date(2026, 6, 30)}]
            }
        }
    )
    assert config.conformance is not None
    waiver = config.conformance.waivers[0]
    assert not waiver.expired(datetime.date(2026, 6, 29))
    assert not waiver.expired(datetime.date(2026, 6, 30))
    assert waiver.expired(datetime.date(2026, 7, 1))
    assert config.conformance.waiver("n_choices_count") is waiver
    assert config.conformance.waiver("usage_total_is_sum") is None


def test_regression_metric_parsing() -> None:
    assert RegressionMetric.parse("ttft.p95") == RegressionMetric("ttft.p95", "latency", "ttft", "p95")
    throughput = RegressionMetric.parse("throughput.goodput_requests_per_s")
    assert (throughput.kind, throughput.metric) == ("throughput", "goodput_requests_per_s")


def test_config_is_frozen() -> None:
    config = GateConfig.model_validate({"errors": {"max_error_rate": 0.1}})
    with pytest.raises(ValueError, match="frozen"):
        config.errors = None
