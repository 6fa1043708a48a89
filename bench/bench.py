"""Benchmark pyworkflow_nb (durability sync and relaxed) against DBOS on the same machine.

    python bench/bench.py [--quick]

Every system runs in its own subprocess (``--side NAME --json``) with a fresh temp dir, and the
parent prints one table. The replay workload uses two more subprocesses per side: one records a
run that stops at its wait, a fresh one recovers it. ``many`` through the sync client, with the
peak RSS it takes, and the recovery of sleeping runs in a large store run in one more
subprocess each (pyworkflow_nb only).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

HERE = Path(__file__).resolve().parent
SIDE_TIMEOUT_S = 1800
FANOUT_WIDTH = 100
LONG_STEPS = 1000


class Side(Protocol):
    """What ``pw_side`` and ``dbos_side`` provide."""

    def open_side(self, workdir: Path, mode: str) -> None: ...
    def close_side(self) -> None: ...
    async def run_seq10(self) -> None: ...
    async def run_many(self, n: int) -> None: ...
    async def run_fanout(self, n: int) -> None: ...
    async def run_long(self, n: int) -> None: ...
    def replay_prepare(self, workdir: Path, mode: str) -> None: ...
    def replay_measure(self, workdir: Path, mode: str) -> dict[str, float]: ...


# phases a side may offer, each measured in a fresh subprocess: name -> the side's function
PHASES = {"sync-many": "sync_many_measure", "recovery": "recovery_measure"}


# side name -> (module, durability mode)
SIDES: dict[str, tuple[str, str]] = {
    "pw-sync": ("pw_side", "sync"),
    "pw-relaxed": ("pw_side", "relaxed"),
    "dbos": ("dbos_side", ""),
}


@dataclass(frozen=True)
class Counts:
    seq10: int = 50  # workflows timed one after another
    many: int = 200  # workflows started back to back
    many_reps: int = 3
    fanout: int = 5
    long: int = 3
    warmup: int = 3
    sleeping: int = 2000  # sleeping runs recovered from a store of ``events`` events
    events: int = 1_000_000


QUICK = Counts(seq10=10, many=50, many_reps=1, fanout=2, long=1, warmup=1, sleeping=200,
               events=100_000)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    target: str
    unit: str
    higher_is_better: bool
    limit_sync: float | None
    limit_relaxed: float | None
    faster_sync: float | None = None  # how many times DBOS's figure pw sync must beat
    faster_relaxed: float | None = None
    dbos_key: str | None = None  # the DBOS figure the row compares with, if not its own


# Targets of issue 11 (the journal as the durable point).
ROWS = [
    Row("seq10", "seq10 (ms/wf, lower=better)", "sync <= 5, >= 5x; relaxed >= 40x", "ms", False,
        5, None, 5, 40),
    Row("many", "many (wf/s, HIGHER=better)", ">= 30x DBOS", "wf/s", True, None, None, 30, 30),
    Row("many_sync", "many, SyncClient (wf/s)", ">= 30x DBOS many", "wf/s", True, None, None,
        30, 30, dbos_key="many"),
    Row("rss", "peak RSS, many (MB)", "<= 80", "MB", False, 80, 80),
    Row("fanout", "fanout (ms/wf, lower=better)", "<= 5", "ms", False, 5, 5),
    Row("long", "long (s, lower=better)", "<= 0.4 sync", "s", False, 0.4, None),
    Row("replay", "replay (ms, lower=better)", "<= 50", "ms", False, 50, 50),
    Row("recovery", "recover sleeping runs (s)", "<= 0.5 (2,000 in 1M events)", "s", False,
        0.5, 0.5),
]


# ---------------------------------------------------------------- measuring, inside a side


async def _elapsed(run: Callable[[], Awaitable[None]]) -> float:
    t0 = time.perf_counter()
    await run()
    return time.perf_counter() - t0


async def _median_elapsed(run: Callable[[], Awaitable[None]], reps: int, warmup: int) -> float:
    for _ in range(warmup):
        await run()
    return statistics.median([await _elapsed(run) for _ in range(reps)])


async def _workloads(side: Side, c: Counts, errors: dict[str, str]) -> dict[str, float]:
    async def seq10() -> float:
        return 1000 * await _median_elapsed(side.run_seq10, c.seq10, c.warmup)

    async def many() -> float:
        await side.run_many(min(c.many, 20))  # warm-up
        rates = [c.many / await _elapsed(lambda: side.run_many(c.many)) for _ in range(c.many_reps)]
        return statistics.median(rates)

    async def fanout() -> float:
        return 1000 * await _median_elapsed(lambda: side.run_fanout(FANOUT_WIDTH), c.fanout, 1)

    async def long() -> float:
        return await _median_elapsed(lambda: side.run_long(LONG_STEPS), c.long, 0)

    results: dict[str, float] = {}
    for name, bench in [("seq10", seq10), ("many", many), ("fanout", fanout), ("long", long)]:
        try:
            results[name] = await bench()
        except Exception:
            errors[name] = traceback.format_exc()
    return results


def _run_child(args: list[str], timeout: float) -> dict[str, object]:
    """Run ``bench.py ARGS`` and return the JSON object it prints; raise with its stderr if not."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(args)}: timed out after {timeout:.0f} s") from e
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit code {proc.returncode}\n{proc.stderr}")
    return cast(dict[str, object], json.loads(proc.stdout.strip().splitlines()[-1]))


def run_side(name: str, counts: Counts) -> dict[str, object]:
    module, mode = SIDES[name]
    side = cast(Side, importlib.import_module(module))
    workdir = Path(tempfile.mkdtemp(prefix=f"pwnb-bench-{name}-"))
    errors: dict[str, str] = {}
    results: dict[str, float] = {}
    (workdir / "main").mkdir()
    try:
        try:
            side.open_side(workdir / "main", mode)
        except Exception:
            errors.update(
                dict.fromkeys(["seq10", "many", "fanout", "long"], traceback.format_exc())
            )
        else:
            results = asyncio.run(_workloads(side, counts, errors))
            side.close_side()
        for phase, fn in PHASES.items():
            if hasattr(side, fn):
                try:
                    results.update(cast(dict[str, float], _run_child(
                        ["--side", name, "--phase", phase, "--dir", str(workdir / phase),
                         "--counts", json.dumps(counts.__dict__)], 900)))
                except Exception:
                    errors[phase] = traceback.format_exc()
        try:
            replay_dir = str(workdir / "replay")
            _run_child(["--side", name, "--replay", "prepare", "--dir", replay_dir], 900)
            measured = _run_child(["--side", name, "--replay", "measure", "--dir", replay_dir], 900)
            results.update(cast(dict[str, float], measured))
        except Exception:
            errors["replay"] = traceback.format_exc()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"results": results, "errors": errors}


def run_phase(name: str, phase: str, workdir: Path, counts: Counts) -> None:
    module, mode = SIDES[name]
    side = importlib.import_module(module)
    workdir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(getattr(side, PHASES[phase])(workdir, mode, counts.__dict__)))
    sys.stdout.flush()
    os._exit(0)


def run_replay_phase(name: str, phase: str, workdir: Path) -> None:
    module, mode = SIDES[name]
    side = cast(Side, importlib.import_module(module))
    workdir.mkdir(parents=True, exist_ok=True)
    if phase == "prepare":
        side.replay_prepare(workdir, mode)
        print("{}")
    else:
        print(json.dumps(side.replay_measure(workdir, mode)))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # like a crash: no orderly teardown of whatever is still running


# ---------------------------------------------------------------- the table, in the parent


def _fmt(value: float, unit: str) -> str:
    if unit in ("wf/s", "MB"):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "n/a"
    r = value / base
    return f"{r:.0f}x" if r >= 10 else f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def _meets(row: Row, value: float, limit: float | None, faster: float | None,
           dbos: float | None) -> str:
    checks = []
    if limit is not None:
        checks.append(value >= limit if row.higher_is_better else value <= limit)
    if faster is not None and dbos:
        times = value / dbos if row.higher_is_better else dbos / value
        checks.append(times >= faster)
    if not checks:
        return ""
    return " ok" if all(checks) else " MISS"


def _label(key: str) -> str:
    return next(r.label for r in ROWS if r.key == key)


def _phase_of(key: str) -> str:
    return {"many_sync": "sync-many", "rss": "sync-many", "recovery": "recovery"}.get(key, key)


def build_table(data: dict[str, dict[str, object]]) -> tuple[list[list[str]], list[str]]:
    notes: list[str] = []

    def note(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f"[{notes.index(text) + 1}]"

    def figure(side: str, key: str) -> float | None:
        return cast(dict[str, float], data[side].get("results", {})).get(key)

    def cell(side: str, row: Row) -> tuple[str, float | None]:
        errors = cast(dict[str, str], data[side].get("errors", {}))
        value = figure(side, row.dbos_key if side == "dbos" and row.dbos_key else row.key)
        if value is not None:
            if side == "dbos":
                return _fmt(value, row.unit) + (" (async)" if row.dbos_key else ""), value
            limit, faster = {"pw-sync": (row.limit_sync, row.faster_sync),
                             "pw-relaxed": (row.limit_relaxed, row.faster_relaxed)}[side]
            dbos = figure("dbos", row.dbos_key or row.key)
            return _fmt(value, row.unit) + _meets(row, value, limit, faster, dbos), value
        error = next((errors[k] for k in (row.key, _phase_of(row.key)) if k in errors), None)
        if error is None:
            return "-", None  # not measured for this system
        last = error.strip().splitlines() or ["no result"]
        return f"n/a {note(f'{side} failed: {last[-1][:200]}')}", None

    table = [["workload", "target", "pw sync", "pw relaxed", "DBOS", "sync/DBOS", "relaxed/DBOS"]]
    for row in ROWS:
        (s_txt, s), (r_txt, r), (d_txt, d) = (cell(x, row) for x in SIDES)
        ratios = [_ratio(v, d) for v in (s, r)]
        table.append([row.label, row.target, s_txt, r_txt, d_txt, *ratios])

    dbos = cast(dict[str, float], data["dbos"].get("results", {}))
    replay = next(i for i, r in enumerate(table) if r[0] == _label("replay"))
    if "replay_end_to_end" in dbos:
        table[replay][4] += " " + note(
            f"DBOS replay = launch ({dbos['replay_launch']:.0f} ms) + re-running the body up to "
            f"recv ({dbos['replay_body']:.0f} ms). It leaves out the wait for DBOS's "
            f"internal-queue poller (about 1 s) that picks up recovered runs; end to end "
            f"was {dbos['replay_end_to_end']:.0f} ms."
        )
    rss = next(i for i, r in enumerate(table) if r[0] == _label("rss"))
    for col, side in [(2, "pw-sync"), (3, "pw-relaxed")]:
        res = cast(dict[str, float], data[side].get("results", {}))
        if "replay_open" in res:
            table[replay][col] += " " + note(
                f"{side} replay = opening the store ({res['replay_open']:.0f} ms, of which "
                f"DuckDB's connect is about 25 ms even for :memory:) + recovering the run up "
                f"to its wait ({res['replay'] - res['replay_open']:.0f} ms).")
        if "rss_anon" in res:
            table[rss][col] += " " + note(
                f"{side} resident at the end: {res['rss_anon']:.0f} MB anonymous memory, and "
                f"{res['rss_duckdb_lib']:.0f} MB of pages of DuckDB's library file (read-only "
                f"code, shared between processes).")
        if res.get("replay_handles", 1) == 0:
            table[replay][col] += " " + note(
                f"{side}: recover() returned no handles after {res['replay_recover_call']:.0f} "
                f"ms; the figure is the time until the run was back at its wait."
            )
    return table, notes


def print_table(table: list[list[str]], notes: list[str], counts: Counts) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    line = "-+-".join("-" * w for w in widths)
    for i, r in enumerate(table):
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print(line)
    print()
    print(
        "ratio = pw / DBOS: below 1x is better for ms and s rows, above 1x is better for wf/s. "
        "ok/MISS = pw vs target."
    )
    print(
        f"seq10: median of {counts.seq10}; many: {counts.many} wf x 5 steps, median of "
        f"{counts.many_reps}; fanout: {FANOUT_WIDTH} steps, median of {counts.fanout}; "
        f"long: {LONG_STEPS} steps, median of {counts.long}; replay: {LONG_STEPS} recorded steps; "
        f"many, SyncClient: the same in a script with no event loop, peak RSS of that process; "
        f"recovery: {counts.sleeping:,} sleeping runs among {counts.events:,} events."
    )
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; shared noisy machine, so read the ratios, not the absolutes."
    )
    for i, text in enumerate(notes, 1):
        print(f"[{i}] {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    parser.add_argument("--side", choices=list(SIDES), help="run one system only (internal)")
    parser.add_argument("--json", action="store_true", help="print the side's results as JSON")
    parser.add_argument("--replay", choices=["prepare", "measure"], help="(internal)")
    parser.add_argument("--dir", type=Path, help="work directory for --replay (internal)")
    parser.add_argument("--phase", choices=list(PHASES), help="(internal)")
    parser.add_argument("--counts", help="(internal) the Counts of the parent, as JSON")
    args = parser.parse_args()
    counts = QUICK if args.quick else Counts()

    if args.side and args.phase:
        run_phase(args.side, args.phase, args.dir, Counts(**json.loads(args.counts)))
    elif args.side and args.replay:
        run_replay_phase(args.side, args.replay, args.dir)
    elif args.side:
        out = run_side(args.side, counts)
        print(json.dumps(out) if args.json else out)
    else:
        data: dict[str, dict[str, object]] = {}
        for name in SIDES:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            flags = ["--side", name, "--json", *(["--quick"] if args.quick else [])]
            try:
                data[name] = _run_child(flags, SIDE_TIMEOUT_S)
            except Exception as e:
                data[name] = {"errors": dict.fromkeys((r.key for r in ROWS), str(e))}
            for key, tb in cast(dict[str, str], data[name].get("errors", {})).items():
                print(f"--- {name} {key} failed:\n{tb}", file=sys.stderr)
        print_table(*build_table(data), counts)


if __name__ == "__main__":
    main()
