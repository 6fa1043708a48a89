"""``%wf``: subcommands over the client: runs, show, events, send, cancel, retry, fork, ..."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.display import display

from .. import client
from ..definitions import registry
from ..errors import InvalidInput, PyWorkflowError
from ..exporting import export
from ..history.vocabulary import WAITING_FOR_DEFINITION
from ..replayer import Replayer, unfinished_run_ids
from ..runtime import in_kernel, runtime
from ..schedules import get_schedule, list_schedules
from ..store import RunRow
from ..sync import SyncClient, SyncRunHandle
from ..telemetry import metrics
from ..timeskip import skip
from .display import EventList, RunList, ScheduleList, VerdictList
from .runs_table_widget import RunsTable
from .timeline_widget import TimelineWidget

USAGE = """\
%wf runs [--status S] [--workflow W] [--limit N]   runs, newest first (a live table)
%wf show RUN                                      a run's interactive timeline (h = %wf show
                                                  RUN: its handle)
%wf events RUN                                    a run's events
%wf send RUN EVENT [JSON]                         deliver an event (payload as JSON)
%wf cancel RUN [REASON]                           cancel a run (its code may clean up)
%wf terminate RUN [REASON]                        end a run at once, running no more of it
%wf pause RUN | %wf resume RUN                    hold back a run's new steps / let it go on
%wf signal RUN NAME [JSON]                        signal a run (JSON: one argument)
%wf query RUN NAME [JSON]                         ask a run's query handler
%wf update RUN NAME [JSON]                        send an update, show what it returns
%wf retry RUN                                     re-run a failed run from its failed step
%wf restart RUN [REASON]                          start a run over from scratch (same id)
%wf fork RUN STEP [--id NEW]                      a new run reusing RUN's results before STEP
                                                  (h = %wf fork ...: the new run's handle)
%wf schedules                                     list schedules with their next fire times
%wf schedule pause|resume|trigger|delete ID       act on one schedule
%wf skip DURATION                                 move the virtual clock forward (e.g. 3d)
%wf store [PATH]                                  show the store, or switch to PATH
%wf recover                                       resume the store's unfinished runs now
%wf metrics                                       counters and latencies of this engine
%wf replay RUN|WORKFLOW                           check the defined code against a run, or
                                                  every unfinished run of a workflow
%wf export PATH.py [WORKFLOW ...]                 write the workflows (default: all the
                                                  notebook's) and what they use to a module
%wf help                                          this text"""


def _parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%wf", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=MagicArgumentParser)
    runs = sub.add_parser("runs", add_help=False)
    runs.add_argument("--status")
    runs.add_argument("--workflow")
    runs.add_argument("--limit", type=int, default=20)
    for name in ("show", "events", "retry", "pause", "resume"):
        sub.add_parser(name, add_help=False).add_argument("run")
    for name in ("cancel", "terminate", "restart"):
        stop = sub.add_parser(name, add_help=False)
        stop.add_argument("run")
        stop.add_argument("reason", nargs="*")
    fork = sub.add_parser("fork", add_help=False)
    fork.add_argument("run")
    fork.add_argument("step")
    fork.add_argument("--id", dest="new_id")
    sub.add_parser("schedules", add_help=False)
    one = sub.add_parser("schedule", add_help=False)
    one.add_argument("action", choices=["pause", "resume", "trigger", "delete"])
    one.add_argument("schedule_id")
    sub.add_parser("skip", add_help=False).add_argument("duration")
    sub.add_parser("store", add_help=False).add_argument("path", nargs="?")
    sub.add_parser("recover", add_help=False)
    sub.add_parser("metrics", add_help=False)
    sub.add_parser("replay", add_help=False).add_argument("target")
    exported = sub.add_parser("export", add_help=False)
    exported.add_argument("path")
    exported.add_argument("workflows", nargs="*")
    sub.add_parser("help", add_help=False)
    return parser


_PARSER = _parser()


def _parse(line: str) -> argparse.Namespace:
    words = line.split(None, 3)
    if words and words[0] == "skip":  # the duration is free text: "-3d" is no option
        duration = line.split(None, 1)[1].strip() if len(words) > 1 else ""
        if not duration:
            raise UsageError("%wf skip needs a duration: %wf skip 3d")
        return argparse.Namespace(command="skip", duration=duration)
    if words and words[0] in ("send", "signal", "query", "update"):
        command, what = words[0], "an event" if words[0] == "send" else f"a {words[0]}"
        if len(words) < 3:
            raise UsageError(f"%wf {command} needs a run id and {what} name: "
                             f"%wf {command} RUN NAME [JSON]")
        try:
            payload = json.loads(words[3]) if len(words) > 3 else None
        except json.JSONDecodeError as exc:
            raise UsageError(f"%wf {command}: {words[3]!r} is not valid JSON ({exc}); e.g. "
                             f"%wf {command} RUN approved {{\"by\": \"ana\"}}") from None
        return argparse.Namespace(command=command, run=words[1], event=words[2],
                                  payload=payload, given=len(words) > 3)
    try:
        args = _PARSER.parse_args(shlex.split(line))
    except (UsageError, ValueError) as exc:
        raise UsageError(f"%wf: {exc}\n{USAGE}") from None
    if args.command is None:
        raise UsageError(f"%wf needs a subcommand.\n{USAGE}")
    return args


def store_line(recovered: list[RunRow]) -> str:
    """The one line saying which store is open, which runs it resumed and which wait."""
    path = runtime.config.store_path()
    if not recovered:
        return f"pyworkflow_nb: store {path}, no unfinished runs"
    waiting = [r for r in recovered if r.status == WAITING_FOR_DEFINITION]
    resumed = [r for r in recovered if r.status != WAITING_FOR_DEFINITION]
    parts = []
    if resumed:
        names = ", ".join(f"{r.run_id} ({r.workflow}, {r.status})" for r in resumed[:5])
        more = f" and {len(resumed) - 5} more" if len(resumed) > 5 else ""
        parts.append(f"resumed {_runs(len(resumed))} from {path}: {names}{more}")
    if waiting:
        one = len(waiting) == 1
        names = ", ".join(f"{r.run_id} ({r.workflow})" for r in waiting[:5])
        more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
        parts.append(f"{_runs(len(waiting))} {'waits' if one else 'wait'} for "
                     f"{'its' if one else 'their'} workflow to be defined: {names}{more}; "
                     f"run the cell{'' if one else 's'} defining "
                     f"{'it' if one else 'them'} to resume"
                     + ("" if resumed else f" (store {path})"))
    return "pyworkflow_nb: " + "; ".join(parts)


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def open_store() -> str:
    """Open the configured store, resume its unfinished runs, and say so in one line."""
    resumed = runtime.call_sync(lambda e: e.recover())
    return store_line(resumed)


class ShownRun(SyncRunHandle):
    """``%wf show RUN``'s handle: it displays as the interactive timeline widget, also for
    a finished run (a live one's still settles into the static timeline when it ends)."""

    def _ipython_display_(self) -> None:
        if not in_kernel():
            super()._ipython_display_()
            return
        widget = self.timeline()
        assert isinstance(widget, TimelineWidget)
        if widget.live:
            widget.show()
        else:
            display(widget)


def run_wf(line: str) -> Any:
    """Execute one ``%wf`` line; returns what the cell should show."""
    args = _parse(line)
    sync = SyncClient()
    try:
        if args.command == "help":
            print(USAGE)
            return None
        if args.command == "runs":
            if args.limit < 1:
                raise UsageError(f"%wf runs --limit must be >= 1, got {args.limit}")
            if in_kernel():
                return RunsTable(workflow=args.workflow, status=args.status, limit=args.limit)
            return RunList(sync.list_runs(args.workflow, args.status, args.limit))
        if args.command == "store":
            if args.path is not None:
                client.configure(store=args.path)
                print(open_store())
            else:
                print(f"store: {runtime.config.store_path()}")
            return None
        if args.command == "recover":
            print(open_store())
            return None
        if args.command == "metrics":
            return metrics()
        if args.command == "schedules":
            return ScheduleList(h.describe() for h in list_schedules())
        if args.command == "schedule":
            return _act_on_schedule(args.action, args.schedule_id)
        if args.command == "replay":
            return replay(args.target)
        if args.command == "export":
            print(export(args.path, *args.workflows))
            return None
        if args.command == "skip":
            print(f"virtual time is now {skip(args.duration).isoformat()}")
            return None
        handle = sync.get_run(args.run)
        if args.command == "show":
            return ShownRun(handle.run_id)
        if args.command == "events":
            return EventList(handle.events())
        if args.command == "fork":
            forked = handle.fork(args.step, run_id=args.new_id)
            print(f"forked run {forked.run_id} from run {handle.run_id} at step {args.step}")
            return forked
        if args.command in ("signal", "query", "update"):
            call_args = (args.payload,) if args.given else ()
            if args.command == "query":
                return handle.query(args.event, *call_args)
            if args.command == "update":
                return handle.update(args.event, *call_args)
            handle.signal(args.event, *call_args)
            print(f"sent signal {args.event!r} to run {handle.run_id}")
            return None
        if args.command == "send":
            handle.send_event(args.event, args.payload)
            print(f"sent {args.event!r} to run {handle.run_id}")
        elif args.command in ("cancel", "terminate"):
            reason = " ".join(args.reason) or None
            getattr(handle, args.command)(reason)
            done = "cancelled" if args.command == "cancel" else "terminated"
            print(f"{done} run {handle.run_id}" + (f": {reason}" if reason else ""))
        elif args.command in ("pause", "resume"):
            getattr(handle, args.command)()
            print(f"{args.command}d run {handle.run_id}: {handle.status()}")
        elif args.command == "retry":
            handle.retry()
            display(handle)
        elif args.command == "restart":
            handle.restart(" ".join(args.reason) or None)
            print(f"restarted run {handle.run_id}; its earlier attempt is run "
                  f"{handle.events()[0]['data']['previous_run_id']}")
            display(handle)
    except (InvalidInput, PyWorkflowError) as exc:
        raise UsageError(f"%wf {args.command}: {exc}") from None
    return None


def replay(target: str) -> VerdictList:
    """``%wf replay``: the defined code against one run, or every unfinished run of a workflow."""
    defined = list(registry.workflows.values())
    if not defined:
        raise InvalidInput("no workflow is defined yet: run the cells that define them first")
    replayer = Replayer(defined)
    if target in registry.workflows:
        return VerdictList(replayer.replay_many(unfinished_run_ids([target])))
    return VerdictList([replayer.replay(target)])


def _act_on_schedule(action: str, schedule_id: str) -> Any:
    handle = get_schedule(schedule_id)
    if action == "trigger":
        run = handle.trigger()
        print(f"schedule {schedule_id} triggered run {run.run_id}")
        return None
    getattr(handle, action)()
    print(f"schedule {schedule_id}: {action}d")
    return None
