"""The glue between locust and llmconform: one custom option, and the run's life cycle as event hooks.

* ``--llmconform-plan JSON`` carries the LoadPlan; locust forwards it from the master to its workers.
* Local run: the process builds a ProcessHarness and a Collector; a controller greenlet drains the
  harness into the collector every second, and when the plan is spent (all slots handed out, nothing
  in flight) it writes measurements.json and quits locust.
* Distributed run: each worker builds its harness at test start (its index and the worker count
  from the plan set its share of the rate and of the request count) and sends drains to the master
  with locust's custom messages; the master merges them in its Collector and quits once every worker
  sent its final drain, or when the hard deadline passes (then the report says which were missing).
* Quitting early (Ctrl-C, SIGTERM, a crash of the run) still writes measurements.json, marked partial.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from llmconform.load.collector import Collector, RowJournal
from llmconform.load.harness import ProcessHarness
from llmconform.load.plan import LoadPlan

__all__ = ["harness_for"]

_DRAIN_MESSAGE = "llmconform_drain"
_DRAIN_INTERVAL_S = 1.0
_HARNESSES: dict[int, ProcessHarness] = {}
_COLLECTORS: dict[int, Collector] = {}
log = logging.getLogger("llmconform.load")


def harness_for(environment: Environment) -> ProcessHarness:
    """The harness of this locust process (created at test start)."""
    try:
        return _HARNESSES[id(environment)]
    except KeyError:
        raise RuntimeError(
            "llmconform users need a load plan: run them with `llmconform load`, or pass --llmconform-plan"
        ) from None


def _plan(environment: Environment) -> LoadPlan | None:
    options = environment.parsed_options
    text = getattr(options, "llmconform_plan", "") if options is not None else ""
    return LoadPlan.model_validate_json(text) if text else None


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--llmconform-plan",
        default="",
        help="The llmconform load plan as JSON (written by `llmconform load`).",
        include_in_web_ui=False,
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # the plan arrives with the master's spawn message
    plan = _plan(environment)
    if plan is None:
        return
    if isinstance(runner, MasterRunner):
        collector = Collector(plan, expected_processes=plan.workers)
        _COLLECTORS[id(environment)] = collector

        def on_drain(environment: Environment, msg: Any, **_kw: Any) -> None:
            collector.receive(msg.data, final=bool(msg.data.get("final")))

        runner.register_message(_DRAIN_MESSAGE, on_drain)
    elif isinstance(runner, LocalRunner):
        collector = Collector(plan, expected_processes=1)
        _COLLECTORS[id(environment)] = collector
        _HARNESSES[id(environment)] = ProcessHarness(plan, 0, 1, on_row=collector.write_row, ship_rows=False)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        plan = _plan(environment)
        if plan is None:
            return
        # A worker on this machine keeps its own journal in the report directory; one started by hand
        # elsewhere (no such directory there) only ships its rows.
        directory = Path(plan.report_dir)
        journal = RowJournal(directory, runner.worker_index) if directory.is_dir() else None
        harness = ProcessHarness(
            plan, runner.worker_index, plan.process_count, on_row=journal.write if journal is not None else None
        )
        _HARNESSES[id(environment)] = harness
        harness.start()

        def ship(data: dict[str, Any]) -> None:
            runner.send_message(_DRAIN_MESSAGE, data)

        gevent.spawn(_drive_process, environment, harness, ship)
        return
    collector = _COLLECTORS.get(id(environment))
    if collector is None:
        return
    local = _HARNESSES.get(id(environment))
    if local is not None:
        local.start()
        gevent.spawn(_drive_process, environment, local, lambda data: collector.receive(data, final=data["final"]))
    gevent.spawn(_conduct, environment, collector)


def _drive_process(environment: Environment, harness: ProcessHarness, ship: Any) -> None:
    """Drain this process's measurements every second; send the final drain when its plan is spent."""
    pacer = harness.pacer
    end = pacer.end
    hard_stop = None if end is None else end + harness.plan.limits.deadline_s + 5.0
    while not pacer.done:
        if hard_stop is not None and time.perf_counter() > hard_stop:
            log.warning("requests still in flight at the hard deadline; they are not counted")
            break
        gevent.sleep(_DRAIN_INTERVAL_S)
        ship({**harness.drain(), "final": False})
    ship({**harness.drain(), "final": True})


def _conduct(environment: Environment, collector: Collector) -> None:
    """On the master (or the local process): keep the progress file fresh, end the run when all is in."""
    plan = collector.plan
    planned = (plan.duration_s or 0) + plan.warmup_s
    # Requests-only plans have no planned end: bound them by a generous per-request allowance.
    allowance = planned if plan.duration_s is not None else 600.0
    hard_stop = time.time() + allowance + plan.limits.deadline_s + 30.0
    notes: list[str] = []
    while not collector.all_finished:
        if time.time() > hard_stop:
            missing = collector.expected - len(collector.finished)
            notes.append(f"{missing} load process(es) did not report their end before the hard deadline")
            break
        runner = environment.runner
        collector.write_progress(users=runner.user_count if runner is not None else 0)
        gevent.sleep(0.5)
    collector.write_progress(users=0)
    collector.write_measurements(partial=bool(notes), notes=notes)
    if environment.runner is not None:
        environment.runner.quit()


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    collector = _COLLECTORS.get(id(environment))
    if collector is None or collector.written:
        return
    local = _HARNESSES.get(id(environment))
    if local is not None:
        collector.receive({**local.drain(), "final": False})
    collector.write_measurements(partial=True, notes=["the run was interrupted before its plan was spent"])
