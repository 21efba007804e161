"""Speech of the workload's prompts (POST /v1/audio/speech, mp3): the TTFT slot holds the arrival of the audio's
first byte, E2E its last; every answer is decoded and held to the audio rules.

Run it with `llmconform load --scenario audio`; subclass AudioUser to change the workload.
"""

from llmconform.load.users import AudioUser

__all__ = ["AudioUser"]
