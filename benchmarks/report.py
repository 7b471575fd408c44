"""REPORT.md and the plots, generated from the raw results only (no figure is typed in here)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from abortkit_cli.stats import median, summary

from .chunks import paired_overhead

FLOOR = "bare-shutdown"
ABORTKIT = ("abortkit", "abortkit-provider")
STRATEGY_ORDER = (
    "close-only",
    "polling-worker",
    "bare-shutdown",
    "abortkit",
    "abortkit-provider",
    "task-cancel",
    "raw-asyncio-cancel",
)
CANCEL_FLOOR = "task-cancel"
TARGET_P50_RATIO = 1.5
TARGET_P99 = 0.005
TARGET_ITER_NS = 60e-9
TARGET_LISTENER = 1e-6
TARGET_CONCURRENT_N = 1000
TARGET_CONCURRENT = 0.100
TARGET_FLEET_RATIO = 2.0
TARGET_IMPORT = 0.010

SECTION_TITLES = {
    "unwind": "(a) Unwind latency after an abort mid-gap",
    "phases": "(b) Unwind latency per provider and phase",
    "iter": "(c) `abortable_iter` cost per item",
    "listeners": "(d) `signal.add_listener(cb).remove()` cost",
    "chunks": "(e) Per-chunk overhead against stream length",
    "concurrent": "(f) N concurrent async streams aborted at once",
    "asgi": "(h) `abortkit.asgi`: from the client's close to the request's signal",
    "fleet": "(i) Stop across processes over Redis (`abortkit.fleet.RedisStopBus`)",
    "imports": "(k) Import cost",
}


# -- formatting ----------------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "—"
    return f"{seconds * 1e3:.2f} ms" if seconds < 10 else f"{seconds:.1f} s"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:.1f} ns"


def ratio(a: float, b: float) -> str:
    return "—" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}x"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# -- per-section analysis --------------------------------------------------------------------------


def _cell_label(cell: dict[str, Any]) -> str:
    return f"{cell['sdk']} {cell['mode']} {cell['transport']}"


def _ordered(series: dict[str, Any]) -> list[str]:
    return sorted(series, key=lambda n: STRATEGY_ORDER.index(n) if n in STRATEGY_ORDER else len(STRATEGY_ORDER))


def unwind_targets(data: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(what, measured, met) for every abortkit series of (a)."""
    rows = []
    for cell in data["cells"]:
        floor = summary(cell["series"][FLOOR]["samples"])
        for name in ABORTKIT:
            samples = cell["series"][name]["samples"]
            if not samples:
                rows.append((f"{name}, {_cell_label(cell)}", "no samples", False))
                continue
            s = summary(samples)
            ok_ratio = s["p50"] <= TARGET_P50_RATIO * floor["p50"]
            ok_p99 = s["p99"] <= TARGET_P99
            measured = (
                f"p50 {ms(s['p50'])} = {ratio(s['p50'], floor['p50'])} floor; "
                f"p99 {ms(s['p99'])} (floor p99 {ms(floor['p99'])})"
            )
            rows.append((f"{name}, {_cell_label(cell)}", measured, ok_ratio and ok_p99))
    return rows


def section_unwind(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    out = [
        f"Script: one chunk, then a {cfg['gap']:g} s silent gap (close-only, sync: {cfg['close_only_gap']:g} s); "
        f"`abort()` from another thread {cfg['abort_window'][0] * 1e3:.0f}-{cfg['abort_window'][1] * 1e3:.0f} ms "
        f"into the gap (uniform). {cfg['rounds']} rounds after {cfg['warmup']} warm-up rounds, strategies shuffled "
        f"within each round; sync close-only runs one round in {cfg['slow_every']}. Time: from the `abort()` call "
        "to the consumer leaving the strategy (`time.perf_counter`). Ratios are against the bare-shutdown floor "
        "of the same cell, same run.",
        "",
        "Sync close-only is the seed's pattern: it unwinds only when the next chunk arrives, i.e. after the rest "
        "of its gap. The polling worker's figure depends on where the abort falls in its 100 ms poll period; here "
        "the abort comes 20-50 ms after a chunk the worker just delivered, so it lands 50-80 ms before the next "
        "poll (an abort at a uniformly random moment would cost 50 ms on average, up to 100 ms). "
        "There is no async polling worker: an async consumer is never stuck in a read the loop cannot interrupt.",
        "",
        "![unwind latency ECDF](unwind_ecdf.png)",
        "",
    ]
    rows = []
    for cell in data["cells"]:
        floor = summary(cell["series"][FLOOR]["samples"])
        for name in _ordered(cell["series"]):
            entry = cell["series"][name]
            if not entry["samples"]:
                rows.append([_cell_label(cell), name, "0", "—", "—", "—", "—", "—", str(len(entry["errors"]))])
                continue
            s = summary(entry["samples"])
            rows.append(
                [
                    _cell_label(cell),
                    name,
                    str(s["n"]),
                    ms(s["p50"]),
                    ms(s["p99"]),
                    ms(s["max"]),
                    ratio(s["p50"], floor["p50"]),
                    ratio(s["p99"], floor["p99"]),
                    str(len(entry["errors"])),
                ]
            )
    out += table(["cell", "strategy", "n", "p50", "p99", "max", "p50 / floor", "p99 / floor", "errors"], rows)
    checks = [
        [_cell_label(c), str(c["requests"]), str(c["not_disconnected"]), str(c["sockets_left"])] for c in data["cells"]
    ]
    out += ["Resources after each cell (server saw every client leave; process socket count back to its start):", ""]
    out += table(["cell", "requests", "clients never seen leaving", "sockets left open"], checks)
    return out


def section_phases(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    out = [
        "Providers as shipped (their SDK's own client, default retries), through `abortkit_cli.trials`, the "
        "procedure `abortkit demo` runs (`abortkit demo --trials 40` runs this very plan). "
        "Already aborted: the signal trips "
        "before the call. Waiting for headers: the status line is withheld 10 s, abort "
        f"{cfg['headers_abort_after'] * 1e3:.0f} ms after the server received the request. Between chunks: abort "
        f"{cfg['abort_window'][0] * 1e3:.0f}-{cfg['abort_window'][1] * 1e3:.0f} ms into a gap. Mid-burst: a "
        f"burst of {cfg['burst_chunks']:,} chunks, abort as soon as text chunk {cfg['burst_abort_after_items']} "
        f"is handed over. {cfg['rounds']} rounds after {cfg['warmup']} warm-up, phases shuffled within each round. "
        '"requests": how many reached the server (0 expected when already aborted).',
        "",
        "![phase latency ECDF](phases_ecdf.png)",
        "",
    ]
    rows = []
    for cell in data["cells"]:
        for phase in cfg["phases"]:
            entry = cell["series"].get(phase)
            if entry is None:  # a phase this provider cannot be aborted in yet (abortkit_cli.trials.phases_for)
                rows.append([cell["provider"], cell["mode"], phase, "not run (known limit)", *["—"] * 5])
                continue
            samples = entry["samples"]
            s = summary(samples) if samples else None
            rows.append(
                [
                    cell["provider"],
                    cell["mode"],
                    phase,
                    str(len(samples)),
                    f"{entry['requests']}/{entry['trials']}",
                    ms(s["p50"]) if s else "—",
                    ms(s["p99"]) if s else "—",
                    ms(s["max"]) if s else "—",
                    str(len(entry["errors"])),
                ]
            )
    out += table(["provider", "mode", "phase", "n", "requests", "p50", "p99", "max", "errors"], rows)
    checks = [
        [f"{c['provider']} {c['mode']}", str(c["not_disconnected"]), str(c["sockets_left"])] for c in data["cells"]
    ]
    out += table(["provider", "clients never seen leaving", "sockets left open"], checks)
    return out


def iter_overheads(data: dict[str, Any]) -> dict[str, float]:
    per = data["per_item"]
    return {
        "over_bare": per["abortable_iter"]["min"] - per["bare"]["min"],
        "over_generator": per["abortable_iter"]["min"] - per["generator wrapper"]["min"],
    }


def section_iter(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    per = data["per_item"]
    bare, gen = per["bare"]["min"], per["generator wrapper"]["min"]
    out = [
        f"`for _ in X: pass` over a list of {cfg['items']:,} ints, {cfg['repeats']} interleaved repeats "
        "(`timeit`, one pass each); minimum and median per item. abortable_iter with a live signal.",
        "",
    ]
    rows = [[name, ns(v["min"]), ns(v["median"]), ns(v["min"] - bare), ns(v["min"] - gen)] for name, v in per.items()]
    out += table(["loop", "min / item", "median / item", "over bare (min)", "over generator (min)"], rows)
    reads = data.get("per_read")
    if reads:
        out += [
            "The other per-chunk cost: what `instrument()` adds to each network read (a read that returns at "
            f"once, {cfg['reads']:,} per repeat). Inside an `abort_scope` each blocking read registers a listener "
            "and removes it. A burst of chunks costs about one read per chunk; a slow stream fewer.",
            "",
        ]
        base = reads["bare read"]["min"]
        rows = [[name, ns(v["min"]), ns(v["median"]), ns(v["min"] - base)] for name, v in reads.items()]
        out += table(["read", "min / read", "median / read", "over bare (min)"], rows)
    detach = data.get("detach")
    if detach:
        out += [
            "",
            "`abortable_iter(..., detach=True)`, for producers nothing can wake: the hand-off costs "
            f"{ns(detach['per_item']['min'])} per item (min; median {ns(detach['per_item']['median'])}). Unwind from a "
            f"producer blocked for good, abort 20-50 ms in, {detach['trials']} trials each, beside a worker thread "
            "feeding a queue polled every 100 ms (the usual way out), same run:",
            "",
        ]
        rows = [[name, ms(v["p50"]), ms(v["p99"]), ms(v["max"])] for name, v in detach["unwind"].items()]
        out += table(["way out", "p50", "p99", "max"], rows)
    return out


def section_listeners(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    per = data["per_op"]
    out = [
        f"`timeit` of `signal.add_listener(cb).remove()`, {cfg['number']:,} per repeat, {cfg['repeats']} repeats, "
        "on a signal already holding the given number of listeners.",
        "",
    ]
    base = per["1"]["min"]
    rows = [[f"{int(k):,}", us(v["min"]), us(v["median"]), ratio(v["min"], base)] for k, v in per.items()]
    out += table(["listeners registered", "min / op", "median / op", "vs 1 registered"], rows)
    fan_out = data.get("fan_out")
    if fan_out:
        out += [
            "",
            f"`abort()` of a signal holding N no-op listeners (time to run them all), {cfg['repeats']} runs each:",
            "",
        ]
        first = min(fan_out, key=int)
        rows = [
            [f"{int(k):,}", ms(v["min"]), ms(v["median"]), ratio(v["median"], fan_out[first]["median"])]
            for k, v in fan_out.items()
        ]
        out += table(["listeners", "min", "median", f"vs {int(first):,} (median)"], rows)
    return out


def section_chunks(data: dict[str, Any]) -> list[str]:
    out = [
        "Whole call timed (request, N chunks, close), medians over the repeats (N: repeats = "
        + ", ".join(f"{int(n):,}: {r}" for n, r in data["config"]["plan"].items())
        + "). CPU: CPU time of the consuming thread (the work done by the SDK and abortkit, not the waiting); "
        "wall: elapsed time. Overhead: median of the paired differences (abortkit - sdk) of each repeat, "
        "in CPU time; per chunk: divided by N (at small N it is mostly the fixed cost per call). What to expect "
        "per chunk is about one instrumented read plus one `abortable_iter` item (section c); where the paired "
        "differences scatter around zero by more than that, the run was too noisy to resolve it.",
        "",
        "![per-chunk overhead](chunks.png)",
        "",
    ]
    rows = []
    for mode in data["modes"]:
        for n, times in mode["times"].items():
            count = int(n)
            sdk_cpu, ak_cpu = median(times["sdk"]["cpu"]), median(times["abortkit"]["cpu"])
            sdk_wall, ak_wall = median(times["sdk"]["wall"]), median(times["abortkit"]["wall"])
            overhead = paired_overhead(times, "cpu")
            rows.append(
                [
                    f"{mode['sdk']} {mode['mode']}",
                    f"{count:,}",
                    f"{ms(sdk_wall)} / {ms(ak_wall)}",
                    us(sdk_cpu / count),
                    us(ak_cpu / count),
                    us(overhead),
                    us(overhead / count),
                    f"{overhead / sdk_cpu:+.1%}",
                ]
            )
    header = [
        "SDK",
        "N",
        "wall per call (sdk / abortkit)",
        "sdk CPU / chunk",
        "abortkit CPU / chunk",
        "overhead / call",
        "overhead / chunk",
        "overhead / sdk CPU",
    ]
    out += table(header, rows)
    return out


def concurrent_summary(data: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """(strategy, N) -> aggregated trials."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for trial in data["trials"]:
        groups.setdefault((trial.get("strategy", "abortkit"), trial["n"]), []).append(trial)
    result = {}
    for key, trials in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        done = [t for t in trials if t["all_unwound_s"] is not None]
        result[key] = {
            "trials": len(trials),
            "all_unwound_median": median(t["all_unwound_s"] for t in done) if done else math.nan,
            "all_unwound_max": max(t["all_unwound_s"] for t in done) if done else math.nan,
            "median_stream": median(t["median_unwound_s"] for t in done) if done else math.nan,
            "abort_call_median": median(t["abort_call_s"] for t in done) if done else math.nan,
            "setup_median": median(t["setup_s"] for t in trials),
            "aborted": sum(t["aborted"] for t in trials),
            "expected": key[1] * len(trials),
            "failed_before": sum(t.get("failed_before_abort", 0) for t in trials),
            "failed_after": sum(t.get("failed_after_abort", t.get("other_errors", 0)) for t in trials),
            "failure_samples": sorted({m for t in trials for m in t.get("failure_samples", [])})[:3],
            "sockets_left": max(t["sockets_left"] for t in trials),
            "not_disconnected": sum(t["not_disconnected"] for t in trials),
            "pool_left": max(t["pool_connections_left"] for t in trials),
        }
    return result


def section_concurrent(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    out = [
        "N streams on one `AsyncOpenAI` client (connection limit lifted), each in a "
        f"{cfg['gap']:g} s gap after its first chunk; {cfg['settle'] * 1e3:.0f} ms after the last stream got its "
        "chunk, one `abort()` from another thread. abortkit: instrumented client, request under `abort_scope`, "
        "`close_on_abort` + `abortable_iter` (as the providers do); bare-shutdown: the floor, same run, plain client; "
        "task-cancel: asyncio's own `Task.cancel()` of every consumer (scheduled by one abort listener), the cheapest "
        "unwinding through the SDK, httpx2, httpcore2 and anyio (not usable: no partial answer, no AbortError); "
        "raw-asyncio-cancel: the same for consumers reading the SSE stream with bare asyncio streams, no HTTP "
        "library: the event loop's own floor. "
        '"all unwound": from the `abort()` call to the last consumer out; "abort() call": how long the aborting '
        "thread spent running the listeners (they share the GIL with the loop that is unwinding). Checks after each "
        "trial: streams that ended with `AbortError`, the server saw every client leave, the client pool is empty, "
        "the process holds as many sockets as before.",
        "",
        "![concurrent abort](concurrent.png)",
        "",
    ]
    summary_ = concurrent_summary(data)
    rows = []
    for (strategy, n), s in summary_.items():
        floor = summary_.get((FLOOR, n))
        cancel_floor = summary_.get((CANCEL_FLOOR, n))
        rows.append(
            [
                f"{n:,}",
                strategy,
                str(s["trials"]),
                ms(s["all_unwound_median"]),
                ms(s["all_unwound_max"]),
                ratio(s["all_unwound_median"], floor["all_unwound_median"]) if floor else "—",
                ratio(s["all_unwound_median"], cancel_floor["all_unwound_median"]) if cancel_floor else "—",
                ms(s["median_stream"]),
                ms(s["abort_call_median"]),
                f"{s['aborted']}/{s['expected']}",
                f"{s['failed_before']} / {s['failed_after']}",
                str(s["not_disconnected"]),
                str(s["pool_left"]),
                str(s["sockets_left"]),
                ms(s["setup_median"]),
            ]
        )
    header = [
        "N",
        "strategy",
        "trials",
        "all unwound (median)",
        "all unwound (max)",
        "vs bare-shutdown",
        "vs task-cancel",
        "median stream",
        "abort() call",
        "unwound (AbortError / cancelled)",
        "failed before / after abort",
        "never seen leaving",
        "pool conns left",
        "sockets left",
        "setup (not timed)",
    ]
    out += table(header, rows)
    samples = sorted({m for s in summary_.values() for m in s["failure_samples"]})
    if samples:
        out += ["Failures (a stream that failed before the abort is left out of the timing):", ""]
        out += [f"- `{m[:200]}`" for m in samples] + [""]
    return out


def asgi_pairs(data: dict[str, Any]) -> list[tuple[str, str, dict[str, float], dict[str, float]]]:
    """(server, phase, abortkit summary, floor summary) per cell pair, in run order."""
    by_key = {(c["server"], c["phase"], c["series"]): c["summary"] for c in data["cells"]}
    pairs = []
    for server, phase, series in by_key:
        if series == "abortkit" and (server, phase, "floor") in by_key:
            pairs.append((server, phase, by_key[(server, phase, series)], by_key[(server, phase, "floor")]))
    return pairs


def _ms3(seconds: float) -> str:
    """Milliseconds to the microsecond: these figures are tens of microseconds."""
    return "—" if math.isnan(seconds) else f"{seconds * 1e3:.3f} ms"


def asgi_target_met(ours: dict[str, float], floor: dict[str, float]) -> bool:
    return ours["p50"] <= TARGET_P50_RATIO * floor["p50"] and ours["p99"] <= TARGET_P99


def section_asgi(data: dict[str, Any]) -> list[str]:
    rows = [
        [
            server,
            phase,
            f"{_ms3(ours['p50'])} / {_ms3(ours['p99'])}",
            f"{_ms3(floor['p50'])} / {_ms3(floor['p99'])}",
            ratio(ours["p50"], floor["p50"]),
            verdict(asgi_target_met(ours, floor)),
        ]
        for server, phase, ours, floor in asgi_pairs(data)
    ]
    out = [
        f"Real servers in this process, a raw-socket client that closes; {data['trials']} trials per cell, the two "
        "series interleaved. `abortkit`: `AbortOnDisconnect`, the endpoint waits only on `request_signal()` "
        "(it reads nothing: an endpoint waiting for its upstream's first token); `floor`: no middleware, the "
        "endpoint itself waits in `receive()`, the soonest the server tells anyone. `waiting`: no byte of the "
        "response sent yet; `mid-stream`: headers and a first chunk sent. Without the middleware an endpoint "
        "that is not waiting in `receive()` learns nothing until it polls.",
        "",
    ]
    out += table(
        ["server", "phase", "abortkit p50 / p99", "floor p50 / p99", "p50 ratio", "target"],
        rows,
    )
    errors = [f"{c['server']} {c['phase']} {c['series']}: `{e[:200]}`" for c in data["cells"] for e in c["errors"][:3]]
    if errors:
        out += ["Trials that measured nothing:", ""] + [f"- {e}" for e in errors] + [""]
def fleet_latency(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {name: summary(samples) for name, samples in data["latency"]["samples"].items()}


def fleet_peaks(run: dict[str, Any]) -> dict[str, int]:
    """The most connections any one process held at once, per role."""
    peaks = {"sub": 0, "cmd": 0}
    for key, count in run["peak_connections"].items():
        role = key.split(":")[0]
        peaks[role] = max(peaks.get(role, 0), count)
    return peaks


def section_fleet(data: dict[str, Any]) -> list[str]:
    cfg = data["config"]
    out = [
        "A real `redis-server` "
        f"{cfg['redis_server']} on loopback (no persistence), redis-py {cfg['redis_py']}, real processes "
        "(`spawn`), buses with their defaults. Latency: from `bus.stop(id)` (sync, waiting until Redis has it) or "
        "`await bus.astop(id)` called in a stopper process to `AbortError` raised by a consumer thread of the "
        "watcher process (woken by an abort listener). Baselines with plain redis-py, no abortkit: the bare pub/sub "
        "round trip (the stopper PUBLISHes, a subscriber thread of the watcher PUBLISHes it back, a subscriber "
        "thread of the stopper receives it), the issue's baseline; and the one-way floor (the stopper PUBLISHes, "
        "the watcher's subscriber thread receives it), the least any design can cost. Both stop series include "
        "what the floor leaves out: two thread wake-ups (the bus thread of each process) and the consumer's. "
        "All on `time.perf_counter` (`CLOCK_MONOTONIC`, shared by the processes), "
        f"{cfg['latency_trials']:,} trials of each series, interleaved in random order.",
        "",
    ]
    series = fleet_latency(data)
    latency = data["latency"]
    trip, floor = series["bare round trip"], series["bare one-way"]
    rows = []
    for name, s in series.items():
        rows.append(
            [
                name,
                str(s["n"]),
                ms(s["p50"]),
                ms(s["p99"]),
                ms(s["max"]),
                ratio(s["p50"], trip["p50"]),
                ratio(s["p99"], trip["p99"]),
                ratio(s["p50"], floor["p50"]),
                ratio(s["p99"], floor["p99"]),
                str(latency["missing"].get(name, 0)),
            ]
        )
    header = ["series", "n", "p50", "p99", "max", "p50 / round trip", "p99 / round trip", "p50 / one-way",
              "p99 / one-way", "never arrived"]  # fmt: skip
    out += table(header, rows)
    out += [
        f"Watches not armed when entered (latency trials): {latency['not_armed']}.",
        "",
        "Random timing: streams spread over about one second per 1,000 across 2 watcher and 2 stopper "
        f"processes; each stop falls within {cfg['spread'] * 1e3:g} ms either way of its watch's start (a third "
        f"within {cfg['near'] * 1e3:g} ms), sent with `await bus.astop(id)`; each watch is `async with "
        f"bus.watch(id)` and waits for its abort; not aborted {cfg['lost_after']:g} s after both its start and its "
        "stop: lost. Abort delay: from the later of the watch start and the stop call (as they really happened) to "
        "the abort, timed by an abort listener (on the watcher's bus thread). Schedule lateness: how late the "
        "processes started the watches and stops of the plan (the machine's load). Connections: `CLIENT LIST` "
        "sampled every 50 ms during the run, the most any one process held (each bus names its subscriber `sub` "
        "and its command connection `cmd`). With restart: Redis killed with SIGKILL (every key lost) a third into "
        "the run and started again 0.5 s later on the same port.",
        "",
    ]
    rows = []
    for label, run in (("random timing", data["random"]), ("Redis restarted mid-run", data["restart"])):
        d = summary(run["delays"]) if run["delays"] else None
        late = summary(run["lateness"]) if run.get("lateness") else None
        peaks = fleet_peaks(run)
        subs = max(run["peak_subscriptions"].values(), default=0)
        rows.append(
            [
                label,
                f"{run['streams']:,}",
                f"{run['stops_before_watch']:,}",
                str(run["lost_count"]),
                str(run["wrong_count"]),
                f"{ms(d['p50'])} / {ms(d['p99'])} / {ms(d['max'])}" if d else "—",
                f"{ms(late['p50'])} / {ms(late['p99'])}" if late else "—",
                f"{peaks['sub']} / {peaks['cmd']}",
                str(subs),
                str(run["clients_samples"]),
            ]
        )
    header = [
        "run",
        "streams",
        "stops before their watch",
        "lost",
        "wrong reason",
        "abort delay p50 / p99 / max",
        "schedule lateness p50 / p99",
        "max connections per process (sub / cmd)",
        "max subscriptions on one connection",
        "CLIENT LIST samples",
    ]
    out += table(header, rows)
    for label, run in (("random timing", data["random"]), ("Redis restarted mid-run", data["restart"])):
        parts = []
        for key, what in (("delays_stop_first", "stop first (the watch read it from the key)"),
                          ("delays_watch_first", "watch first (the published message)")):  # fmt: skip
            if run.get(key):
                d = summary(run[key])
                parts.append(f"{what}: {d['n']:,}, p50 {ms(d['p50'])}, p99 {ms(d['p99'])}")
        if parts:
            out += [f"Abort delay by order, {label}: " + "; ".join(parts) + ".", ""]
    restart = data["restart"].get("restart")
    if restart:
        line = f"Redis killed at {restart['killed_at']:.2f} s into the run, back at {restart['back_at']:.2f} s"
        after = restart.get("last_abort_after_back")
        if after is not None:
            line += (
                f"; {restart['caught']:,} streams were caught by the outage (stop and watch both begun before Redis "
                f"was back, not yet aborted when it went), the last of them aborted {ms(after)} after Redis was back "
                f"(the stated bound: `reconnect_max_delay`, {cfg['bus_defaults']['reconnect_max_delay']:g} s here, "
                "plus a few round trips)"
            )
        out += [line + ".", ""]
    return out


def section_imports(data: dict[str, Any]) -> list[str]:
    out = [
        "What a statement's imports cost a fresh interpreter: the cumulative `python -X importtime` times of its "
        f"top-level imports, minus those of `pass` ({ms(data['baseline']['min'])}: the interpreter's own), "
        f"best and median of {data['repeats']} subprocesses each.",
        "",
    ]
    rows = [[f"`{name}`" if name.startswith("import") else name, ms(v["min"]), ms(v["median"])]
            for name, v in data["statements"].items()]
    out += table(["statement", "min", "median"], rows)
    out += [
        "",
        "`import abortkit` imports its names on first use; the names themselves bring logging, wrapt (which "
        "imports `importlib.metadata`) and asyncio, which most applications load anyway.",
    ]
    return out


SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "unwind": section_unwind,
    "phases": section_phases,
    "iter": section_iter,
    "listeners": section_listeners,
    "chunks": section_chunks,
    "concurrent": section_concurrent,
    "asgi": section_asgi,
    "fleet": section_fleet,
    "imports": section_imports,
}


# -- targets ---------------------------------------------------------------------------------------


def targets(sections: dict[str, Any]) -> list[str]:
    rows: list[list[str]] = []
    if "unwind" in sections:
        for what, measured, ok in unwind_targets(sections["unwind"]["data"]):
            rows.append(
                [
                    f"unwind mid-gap, {what}: p50 ≤ {TARGET_P50_RATIO}x floor and p99 ≤ {ms(TARGET_P99)}",
                    measured,
                    verdict(ok),
                ]
            )
    if "iter" in sections:
        over = iter_overheads(sections["iter"]["data"])
        rows.append(
            [
                f"abortable_iter ≤ {ns(TARGET_ITER_NS)} / item over bare",
                f"{ns(over['over_bare'])} (min of repeats)",
                verdict(over["over_bare"] <= TARGET_ITER_NS),
            ]
        )
    if "listeners" in sections:
        per = sections["listeners"]["data"]["per_op"]
        worst = max(v["min"] for v in per.values())
        flat = per["100000"]["min"] / per["1"]["min"]
        rows.append(
            [
                f"add_listener(cb).remove() ≤ {us(TARGET_LISTENER)}, flat",
                f"{us(per['1']['min'])} (1) / {us(per['100000']['min'])} (100,000): {flat:.2f}x",
                verdict(worst <= TARGET_LISTENER and flat < 1.5),
            ]
        )
        fan_out = sections["listeners"]["data"].get("fan_out")
        if fan_out:
            growth = fan_out["100000"]["median"] / fan_out["10000"]["median"]
            rows.append(
                [
                    "abort() fan-out: 100,000 listeners ≤ 12x of 10,000",
                    f"{ms(fan_out['10000']['median'])} / {ms(fan_out['100000']['median'])}: {growth:.1f}x",
                    verdict(growth <= 12),
                ]
            )
    if "concurrent" in sections:
        summary_ = concurrent_summary(sections["concurrent"]["data"])
        what = f"{TARGET_CONCURRENT_N:,} async streams all unwound < {ms(TARGET_CONCURRENT)}, nothing left open"
        s = summary_.get(("abortkit", TARGET_CONCURRENT_N))
        if s is not None:
            clean = s["sockets_left"] <= 0 and s["not_disconnected"] == 0 and s["aborted"] == s["expected"]
            floor = summary_.get((FLOOR, TARGET_CONCURRENT_N))
            floor_text = f"; bare-shutdown {ms(floor['all_unwound_max'])}" if floor else ""
            for name in (CANCEL_FLOOR, "raw-asyncio-cancel"):
                other = summary_.get((name, TARGET_CONCURRENT_N))
                floor_text += f"; {name} {ms(other['all_unwound_max'])}" if other else ""
            measured = f"max {ms(s['all_unwound_max'])}{floor_text}; sockets left {s['sockets_left']}"
            rows.append([what, measured, verdict(s["all_unwound_max"] < TARGET_CONCURRENT and clean)])
        else:
            rows.append([what, "not run", "n/a"])
    if "asgi" in sections:
        pairs = asgi_pairs(sections["asgi"]["data"])
        worst_ratio = max((ours["p50"] / floor["p50"] for _, _, ours, floor in pairs if floor["p50"]), default=math.nan)
        worst_p99 = max((ours["p99"] for _, _, ours, _ in pairs), default=math.nan)
        rows.append(
            [
                f"`abortkit.asgi` close → signal, every server and phase: p50 ≤ {TARGET_P50_RATIO}x floor and "
                f"p99 ≤ {ms(TARGET_P99)}",
                f"worst p50 {worst_ratio:.2f}x floor, worst p99 {ms(worst_p99)}",
                verdict(bool(pairs) and all(asgi_target_met(ours, floor) for _, _, ours, floor in pairs)),
            ]
        )
    if "fleet" in sections:
        data = sections["fleet"]["data"]
        series = fleet_latency(data)
        trip, floor = series["bare round trip"], series["bare one-way"]
        for name in ("stop()", "astop()"):
            s = series[name]
            rows.append(
                [
                    f"`{name}` → AbortError across processes: p99 ≤ {TARGET_FLEET_RATIO:g}x the bare pub/sub round "
                    "trip p99 (same run)",
                    f"p50 {ms(s['p50'])}, p99 {ms(s['p99'])}; round trip p50 {ms(trip['p50'])}, p99 {ms(trip['p99'])}: "
                    f"{ratio(s['p99'], trip['p99'])} (one-way floor p99 {ms(floor['p99'])}: "
                    f"{ratio(s['p99'], floor['p99'])})",
                    verdict(s["p99"] <= TARGET_FLEET_RATIO * trip["p99"]),
                ]
            )
        for label, run in (("random timing", data["random"]), ("Redis restarted mid-run", data["restart"])):
            peaks = fleet_peaks(run)
            rows.append(
                [
                    f"stops, {label}: 0 lost; 1 subscriber connection per process",
                    f"{run['lost_count']} lost of {run['streams']:,}, {run['wrong_count']} wrong reasons; "
                    f"max {peaks['sub']} sub + {peaks['cmd']} cmd connections per process",
                    verdict(run["lost_count"] == 0 and run["wrong_count"] == 0 and peaks["sub"] == 1),
                ]
            )
    if "imports" in sections:
        cost = sections["imports"]["data"]["statements"]["import abortkit"]
        rows.append(
            [
                f"`import abortkit` ≤ {ms(TARGET_IMPORT)} (`python -X importtime`)",
                f"{ms(cost['min'])} (min), {ms(cost['median'])} (median)",
                verdict(cost["min"] <= TARGET_IMPORT),
            ]
        )
    return table(["target", "measured", "verdict"], rows)


# -- the document ----------------------------------------------------------------------------------


def _machine_lines(meta: dict[str, Any]) -> list[str]:
    m = meta["machine"]
    rows = [
        ["CPU", f"{m['cpu']} ({m['logical_cpus']} logical CPUs, {m['usable_cpus']} usable)"],
        ["Python", m["python"]],
        ["OS", m["os"]],
        ["Date (UTC)", m["date"]],
        ["Packages", ", ".join(f"{k} {v}" for k, v in m["packages"].items())],
    ]
    return table(["", ""], rows)


def render(results: dict[str, Any]) -> str:
    sections = results["sections"]
    runs = {s["meta"]["run_id"] for s in sections.values()}
    latest = max(sections.values(), key=lambda s: s["meta"]["run_id"])["meta"]
    out = ["# abortkit benchmarks", ""]
    out += [
        "Generated by `python -m benchmarks` from the raw results in `benchmarks/results/results.json`; "
        "every figure below is read from them. Baselines are measured in the same run as abortkit.",
        "",
    ]
    if any(s["meta"]["quick"] for s in sections.values()):
        out += ["> **Quick smoke run** (`--quick`): too few trials for the figures to mean much.", ""]
    out += ["## Machine", "", *_machine_lines(latest)]
    out += [
        "Noise: the load average (1/5/15 min) before and after each section is listed with it. On a shared "
        "machine other work competes for the same cores (and the in-process mock server shares the GIL with "
        "the client), so tails in particular are noisy; compare ratios within a section rather than absolute figures "
        "across runs.",
        "",
    ]
    if len(runs) > 1:
        out += ["> Sections come from different runs (see each section's run line).", ""]
    out += ["## Targets", "", *targets(sections)]
    for name, title in SECTION_TITLES.items():
        if name not in sections:
            continue
        meta = sections[name]["meta"]
        out += [f"## {title}", ""]
        out += [
            f"Run {meta['run_id']}{' (quick)' if meta['quick'] else ''}; {meta['duration_s']:.0f} s; "
            f"load average before {meta['load_before']}, after {meta['load_after']}.",
            "",
        ]
        out += SECTIONS[name](sections[name]["data"])
    errors = _errors(sections)
    if errors:
        out += ["## Trial errors", "", "Trials that measured nothing (first few per series):", ""]
        out += [f"- {line}" for line in errors] + [""]
    return "\n".join(out)


def _errors(sections: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("unwind", "phases"):
        if name not in sections:
            continue
        for cell in sections[name]["data"]["cells"]:
            label = _cell_label(cell) if name == "unwind" else f"{cell['provider']} {cell['mode']}"
            for series_name, entry in cell["series"].items():
                for error in entry["errors"][:3]:
                    lines.append(f"{name}: {label} / {series_name}: `{error[:200]}`")
    return lines


# -- plots -------------------------------------------------------------------------------------------


def _ecdf(ax: Any, samples: Sequence[float], label: str, color: str | None = None) -> None:
    xs = sorted(x * 1e3 for x in samples)
    ys = [(i + 1) / len(xs) for i in range(len(xs))]
    ax.step(xs, ys, where="post", label=label, color=color)


def _color(name: str, names: Sequence[str]) -> str:
    """The same colour for the same strategy or phase in every panel."""
    return f"C{names.index(name) % 10}" if name in names else "black"


def plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    sections = results["sections"]
    if "unwind" in sections:
        cells = sections["unwind"]["data"]["cells"]
        rows = sorted({(c["sdk"], c["mode"]) for c in cells}, key=lambda k: (k[0] != "openai", k[1] != "sync"))
        fig, axes = plt.subplots(len(rows), 2, figsize=(12, 3.2 * len(rows)), squeeze=False, sharex=True)
        for cell in cells:
            ax = axes[rows.index((cell["sdk"], cell["mode"]))][0 if cell["transport"] == "plain" else 1]
            for name in _ordered(cell["series"]):
                if cell["series"][name]["samples"]:
                    _ecdf(ax, cell["series"][name]["samples"], name, _color(name, STRATEGY_ORDER))
            ax.axvline(TARGET_P99 * 1e3, color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_title(_cell_label(cell), fontsize=10)
            ax.set_ylabel("fraction of trials")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
        for ax in axes[-1]:
            ax.set_xlabel("abort() → consumer unwound (ms, log); dotted: 5 ms")
        fig.suptitle("Unwind latency after an abort mid-gap (ECDF)")
        fig.tight_layout()
        written.append(_save(fig, out_dir / "unwind_ecdf.png", plt))
    if "phases" in sections:
        data = sections["phases"]["data"]
        providers = list(dict.fromkeys(c["provider"] for c in data["cells"]))
        fig, axes = plt.subplots(len(providers), 2, figsize=(12, 3.2 * len(providers)), squeeze=False, sharex=True)
        for cell in data["cells"]:
            ax = axes[providers.index(cell["provider"])][0 if cell["mode"] == "sync" else 1]
            for phase in data["config"]["phases"]:
                samples = cell["series"].get(phase, {}).get("samples")
                if samples:
                    _ecdf(ax, samples, phase, _color(phase, data["config"]["phases"]))
            ax.set_xscale("log")
            ax.set_title(f"{cell['provider']} provider, {cell['mode']}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
        for ax in axes[-1]:
            ax.set_xlabel("abort() → call unwound (ms, log)")
        fig.suptitle("Unwind latency per provider and phase (ECDF)")
        fig.tight_layout()
        written.append(_save(fig, out_dir / "phases_ecdf.png", plt))
    if "chunks" in sections:
        modes = sections["chunks"]["data"]["modes"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        for mode in modes:
            label = f"{mode['sdk']} {mode['mode']}"
            counts = [int(n) for n in mode["times"]]
            series = list(mode["times"].values())
            sdk = [median(t["sdk"]["cpu"]) / n * 1e6 for n, t in zip(counts, series, strict=True)]
            ak = [median(t["abortkit"]["cpu"]) / n * 1e6 for n, t in zip(counts, series, strict=True)]
            over = [paired_overhead(t, "cpu") / n * 1e6 for n, t in zip(counts, series, strict=True)]
            line = left.plot(counts, sdk, marker="o", linestyle="--", label=f"{label}: sdk")[0]
            left.plot(counts, ak, marker="s", color=line.get_color(), label=f"{label}: abortkit")
            right.plot(counts, over, marker="o", color=line.get_color(), label=label)
        left.set(xscale="log", yscale="log", xlabel="chunks per stream (N)", ylabel="CPU µs per chunk (call / N)")
        left.set_title("Consumer CPU time per chunk, with and without abortkit", fontsize=10)
        right.axhline(0, color="grey", linewidth=1)
        right.set(xscale="log", yscale="symlog", xlabel="chunks per stream (N)", ylabel="CPU µs per chunk")
        right.set_title("abortkit overhead per chunk (median of paired differences)", fontsize=10)
        for ax in (left, right):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "chunks.png", plt))
    if "concurrent" in sections:
        data = sections["concurrent"]["data"]
        summary_ = concurrent_summary(data)
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for strategy in dict.fromkeys(key[0] for key in summary_):
            keys = [key for key in summary_ if key[0] == strategy]
            trials = [t for t in data["trials"] if t.get("strategy", "abortkit") == strategy and t["all_unwound_s"]]
            xs = [key[1] for key in keys]
            line = ax.plot(xs, [summary_[k]["all_unwound_median"] * 1e3 for k in keys], marker="o")[0]
            line.set_label(f"{strategy}: all unwound (median)")
            ax.scatter(
                [t["n"] for t in trials],
                [t["all_unwound_s"] * 1e3 for t in trials],
                s=10,
                alpha=0.4,
                color=line.get_color(),
            )
            ax.plot(
                xs,
                [summary_[k]["abort_call_median"] * 1e3 for k in keys],
                marker="s",
                linestyle="--",
                color=line.get_color(),
                label=f"{strategy}: abort() call (median)",
            )
        ax.axhline(TARGET_CONCURRENT * 1e3, color="grey", linestyle=":", linewidth=1, label="target for 1,000")
        ax.set(xscale="log", yscale="log", xlabel="concurrent async streams (N)", ylabel="ms after abort()")
        ax.set_title("One abort, N concurrent AsyncOpenAI streams (dots: trials)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "concurrent.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
