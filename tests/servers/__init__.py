"""Independent test servers that speak the OpenAI chat wire format (not the llmconform mock)."""
