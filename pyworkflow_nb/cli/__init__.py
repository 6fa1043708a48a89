"""The command line, ``pyworkflow-nb`` (or ``python -m pyworkflow_nb``): read and steer a store
from a terminal.

Reads (``runs``, ``show``, ``events``, ``sql``, ``schedules``, ``hooks``) open the store
read-only; commands that change something open it for writing, as a notebook would, and close
it again.
Errors print one line, without a traceback, and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import runpy
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from .. import client as pw
from ..definitions import registry
from ..durations import iso_utc, parse_duration
from ..errors import InvalidInput, PyWorkflowError
from ..history import vocabulary as ev
from ..replayer import Replayer, unfinished_run_ids
from ..runtime import STORE_ENV, runtime
from ..schedules import get_schedule
from ..sync import SyncClient
from . import output
from .worker import serve

PROG = "pyworkflow-nb"
READS = {"runs", "show", "events", "sql", "schedules", "replay"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Durable workflows for notebooks: read and steer a store.",
        epilog=f"The store is --store, else ${STORE_ENV}, else .pyworkflow_nb/store.duckdb.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version('pyworkflow_nb')}")
    parser.add_argument("--store", metavar="PATH", help="the store file to open")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runs = commands.add_parser("runs", help="runs, newest first")
    runs.add_argument("--workflow")
    runs.add_argument("--status")
    runs.add_argument("--since", metavar="DURATION", help="created within, e.g. 2h or 3d")
    runs.add_argument("--limit", type=int, default=20)
    commands.add_parser("show", help="a run: status, result or error, its steps").add_argument(
        "run")
    commands.add_parser("events", help="a run's events").add_argument("run")
    sql = commands.add_parser("sql", help="read-only SQL over the store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    send = commands.add_parser("send", help="deliver an event to a run")
    send.add_argument("run")
    send.add_argument("event")
    send.add_argument("payload", nargs="?", help="the payload as JSON")
    cancel = commands.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run")
    cancel.add_argument("--reason")
    commands.add_parser("retry", help="re-run a failed run from its failed step").add_argument(
        "run")
    commands.add_parser("schedules", help="schedules and their next fire times")
    one = commands.add_parser("schedule", help="pause, resume or trigger a schedule")
    one.add_argument("action", choices=["pause", "resume", "trigger"])
    one.add_argument("schedule_id")
    hooks = commands.add_parser("hooks", help="hooks of pyworkflow-engine code: list them "
                                               "(default) or resume one by its token")
    hooks.add_argument("action", nargs="?", choices=["list", "resume"], default="list")
    hooks.add_argument("token", nargs="?", help="run_id:hook_id (for resume)")
    hooks.add_argument("--status", choices=["pending", "received", "expired"])
    hooks.add_argument("--payload", help="the payload as JSON (for resume)")
    replay = commands.add_parser(
        "replay", help="check workflow code against recorded runs (exit 1 on a divergence)")
    replay.add_argument("target", help="a run id, a history .json file, or a workflow name "
                                       "(its unfinished runs)")
    replay.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", required=True,
                        help="a module or .py file defining the workflows (repeatable)")
    worker = commands.add_parser(
        "worker", help="run the app's workflows from the store until SIGTERM or Ctrl-C")
    worker.add_argument("--app", dest="apps", action="append", required=True,
                        metavar="MODULE", help="a module or .py file defining the workflows "
                        "(repeatable), e.g. one %%wf export wrote")
    worker.add_argument("--concurrency", type=int, metavar="N",
                        help="step attempts running at once (default: no cap)")
    commands.add_parser("demo", help="run a demo workflow on the default store and narrate it")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the command, and return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ..demo import main as demo

        demo()
        return 0
    try:
        reads = args.command in READS or (args.command == "hooks" and args.action == "list")
        if args.command == "worker":
            pw.configure(store=args.store, concurrency=args.concurrency)
            runtime.configure(worker=True)  # it takes the runs left for workers
        elif args.store is not None or reads:
            pw.configure(store=args.store, read_only=reads)
        try:
            shown = COMMANDS[args.command](args)
            print(shown)
        finally:
            pw.shutdown()
    except PyWorkflowError as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return 1
    return 1 if args.command == "replay" and "DIVERGED" in shown else 0


def _shown(args: argparse.Namespace, columns: list[str], rows: list[list[Any]]) -> str:
    if args.json:
        return output.as_json([dict(zip(columns, r, strict=True)) for r in rows])
    return output.table(columns, rows) if rows else "(none)"


def _runs(args: argparse.Namespace) -> str:
    if args.limit < 1:
        raise InvalidInput(f"--limit must be >= 1, got {args.limit}")
    since = None if args.since is None else time.time() - parse_duration(
        args.since, what="--since")
    rows = [h.row() for h in SyncClient().list_runs(args.workflow, args.status, None)]
    rows = [r for r in rows if since is None or r.created_at >= since][:args.limit]
    columns = ["run_id", "workflow", "status", "created_at", "finished_at"]
    return _shown(args, columns, [
        [r.run_id, r.workflow, r.status, iso_utc(r.created_at),
         iso_utc(r.finished_at) if r.finished_at else None] for r in rows])


def _show(args: argparse.Namespace) -> str:
    handle = SyncClient().get_run(args.run)
    about, steps = handle.describe(), handle.steps()
    if args.json:
        return output.as_json({**about, "steps": steps})
    lines = [f"run {about['run_id']} of {about['workflow']}: {about['status']}",
             f"  started {about['started_at']}" + (
                 f", finished {about['finished_at']}" if about["finished_at"] else "")]
    if about["status"] == "completed":
        lines.append(f"  result: {json.dumps(about['result'], default=str)[:500]}")
    if about["error"]:
        lines.append(f"  error: {about['error'].get('type')}: {about['error'].get('message')}")
    bars = output.step_bars(steps)
    lines += ["", *bars] if bars else ["  (no steps yet)"]
    return "\n".join(lines)


def _events(args: argparse.Namespace) -> str:
    events = SyncClient().get_run(args.run).events()
    if args.json:
        return output.as_json(events)
    return output.table(["seq", "ts", "type", "step", "attempt", "data"], [
        [e["seq"], iso_utc(e["ts"]), e["type"], e["step"], e["attempt"], e["data"]]
        for e in events])


def _sql(args: argparse.Namespace) -> str:
    rel = pw.sql(args.query)
    columns = [c[0] for c in rel.description]
    rows = [list(r) for r in rel.fetchall()]
    if args.json or args.format == "json":
        return output.as_json([dict(zip(columns, r, strict=True)) for r in rows])
    if args.format == "csv":
        return output.csv_lines(columns, rows)
    return output.table(columns, rows)


def _payload(text: str | None, example: str) -> Any:
    try:
        return None if text is None else json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the payload {text!r} is not valid JSON ({exc}); e.g. "
                           f"{PROG} {example} '{{\"by\": \"ana\"}}'") from None


def _send(args: argparse.Namespace) -> str:
    payload = _payload(args.payload, "send RUN approved")
    SyncClient().get_run(args.run).send_event(args.event, payload)
    return f"sent {args.event!r} to run {args.run}"


_HOOK_STATUS = {"waiting": "pending", "received": "received", "timed_out": "expired"}


def _hooks(args: argparse.Namespace) -> str:
    if args.action == "resume":
        if not args.token:
            raise InvalidInput(f"hooks resume needs a token: {PROG} hooks resume "
                               "RUN_ID:hook_NAME_N --payload '{...}' (tokens: hooks list)")
        run_id, _, hook_id = args.token.partition(":")
        if not run_id or not hook_id.startswith("hook_"):
            raise InvalidInput(f"{args.token!r} is not a hook token (RUN_ID:hook_NAME_N); "
                               f"see {PROG} hooks list")
        payload = _payload(args.payload, f"hooks resume {args.token} --payload")
        handle = SyncClient().get_run(run_id)
        pending = pw.sql(  # waiting, and no payload on its way (its run is not running here)
            "SELECT count(*) FROM waits WHERE run_id = ? AND event = ? AND status = 'waiting' "
            "AND NOT EXISTS (SELECT 1 FROM events WHERE run_id = ? AND type = ? "
            "AND data ->> 'event' = ?)",
            [run_id, hook_id, run_id, ev.EVENT_RECEIVED, hook_id]).fetchall()
        if pending != [(1,)]:
            raise InvalidInput(f"no pending hook {args.token}: see {PROG} hooks list")
        handle.send_event(hook_id, payload)
        return f"resumed hook {args.token}"
    rel = pw.sql("SELECT run_id || ':' || event AS token, regexp_extract(event, "
                 "'^hook_(.*)_[0-9]+$', 1) AS name, CASE WHEN status = 'waiting' AND EXISTS ("
                 "SELECT 1 FROM events e WHERE e.run_id = w.run_id AND e.type = ? "
                 "AND e.data ->> 'event' = w.event) THEN 'received' ELSE status END, "
                 "started_at, timeout_at FROM waits w WHERE starts_with(event, 'hook_') "
                 "ORDER BY started_at", [ev.EVENT_RECEIVED])
    rows = [[t, n, _HOOK_STATUS.get(s, s), at, until] for t, n, s, at, until in rel.fetchall()]
    rows = [r for r in rows if args.status is None or r[2] == args.status]
    return _shown(args, ["token", "name", "status", "created_at", "expires_at"], rows)


def _cancel(args: argparse.Namespace) -> str:
    handle = SyncClient().get_run(args.run)
    if handle.row().finished:
        raise InvalidInput(f"run {args.run} already ended ({handle.status()}): nothing to cancel")
    handle.cancel(args.reason)
    return f"cancelled run {args.run}" + (f": {args.reason}" if args.reason else "")


def _retry(args: argparse.Namespace) -> str:
    handle = SyncClient().get_run(args.run)
    handle.retry()
    return f"retried run {args.run}: {handle.status()} (it goes on where its workflow is defined)"


def _schedules(args: argparse.Namespace) -> str:
    rel = pw.sql("SELECT schedule_id, workflow, status, next_fire_at, fire_count, last_run_id "
                 "FROM schedules ORDER BY schedule_id")
    return _shown(args, [c[0] for c in rel.description], [list(r) for r in rel.fetchall()])


def _schedule(args: argparse.Namespace) -> str:
    handle = get_schedule(args.schedule_id)
    if args.action == "trigger":
        return f"schedule {args.schedule_id} triggered run {handle.trigger().run_id}"
    getattr(handle, args.action)()
    return f"schedule {args.schedule_id}: {args.action}d"


def _replay(args: argparse.Namespace) -> str:
    for name in args.imports:
        _define(name)
    defined = list(registry.workflows.values())
    if not defined:
        raise InvalidInput(f"{', '.join(args.imports)} defined no @pw.workflow to replay")
    replayer = Replayer(defined)
    verdicts = (replayer.replay_many(unfinished_run_ids([args.target]))
                if args.target in registry.workflows else [replayer.replay(args.target)])
    if args.json:
        return output.as_json([{"run_id": v.run_id, "workflow": v.workflow, "ok": v.ok,
                                "detail": v.detail} for v in verdicts])
    if not verdicts:
        return f"no unfinished runs of {args.target} to replay"
    return "\n".join(str(v) for v in verdicts)


def _worker(args: argparse.Namespace) -> str:
    return serve(args.apps, _define)


def _define(name: str) -> None:
    """Import the module (or run the .py file) that defines the workflows."""
    try:
        if name.endswith(".py"):
            runpy.run_path(name, run_name="__pyworkflow_nb_app__")
        else:
            sys.path.insert(0, os.getcwd())
            importlib.import_module(name)
    except (ImportError, OSError) as exc:
        raise InvalidInput(f"cannot import {name}: {exc}") from None


COMMANDS: dict[str, Callable[[argparse.Namespace], str]] = {
    "runs": _runs, "show": _show, "events": _events, "sql": _sql, "send": _send,
    "cancel": _cancel, "retry": _retry, "schedules": _schedules, "schedule": _schedule,
    "hooks": _hooks, "replay": _replay, "worker": _worker,
}
