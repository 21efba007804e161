"""llmconform: contract-conformance and load-testing harness for LLM APIs."""

__version__ = "0.1.0"
