"""The release gate: a thresholds file (``gates.toml``) turns a run's reports into a verdict and an exit code.

``run_gate(thresholds, report_dir, baseline_dir)`` judges conformance.json, load.json and requests.csv,
writes ``REPORT_DIR/gate.json`` and returns a :class:`GateResult` (``exit_code`` 0 or 1); a bad thresholds
file or a missing directory raises :class:`GateConfigError` (exit code 2).
"""

from llmconform.gate.bootstrap import Interval, relative_change, relative_rate_change
from llmconform.gate.config import GateConfig, GateConfigError, load_config, parse_config
from llmconform.gate.evaluate import GATE_JSON, Check, GateResult, evaluate, run_gate

__all__ = [
    "GATE_JSON",
    "Check",
    "GateConfig",
    "GateConfigError",
    "GateResult",
    "Interval",
    "evaluate",
    "load_config",
    "parse_config",
    "relative_change",
    "relative_rate_change",
    "run_gate",
]
