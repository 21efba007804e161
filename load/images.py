"""Image generations from the workload's prompts (POST /v1/images/generations): one 1024x1024 image of
quality low as b64_json per request. TTFT is the first byte of the answer, E2E its completion; every
image is checked (count, size, encoding, that it decodes, usage) as in `llmconform check`.

Run it with `llmconform load --scenario images`; subclass ImagesUser to change the workload.
"""

from llmconform.load.users import ImagesUser

__all__ = ["ImagesUser"]
