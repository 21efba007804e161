"""Video tasks of the workload's prompts (Seedance task API, 4 s at 480p): each task is created and polled until
it ends, bounded by the polling deadline; E2E runs from the create's send to the poll that saw the end, and a
task that ended failed counts as a failed request (class task_failed).

Run it with `llmconform load --scenario video`; subclass VideoUser to change the workload.
"""

from llmconform.load.users import VideoUser

__all__ = ["VideoUser"]
