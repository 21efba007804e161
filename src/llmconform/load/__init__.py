"""Load generation (locust users, metrics, arrival schedules): built with `llmconform load`, not yet here."""
