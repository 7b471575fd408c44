"""``python -m benchmarks [--quick] [--only NAME ...] [--report-only]``: run, then write the report.

Sections (``--only`` takes these names, repeatable or comma-separated): unwind (a, and the
distribution plots of g), phases (b), iter (c), listeners (d), chunks (e), concurrent (f), asgi (h),
fleet (i: stop across processes over Redis; needs ``redis-server``).
Raw results go to ``benchmarks/results/results.json`` (one entry per section, each stamped
with its run and machine; ``--only`` replaces just the sections it runs), then
``benchmarks/REPORT.md`` and the PNG plots are regenerated from that file alone.
Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import asgi, chunks, concurrent, fleet, imports, micro, phases, report, unwind
from ._common import load_average, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "results.json"

RUNNERS: dict[str, Callable[[bool, Callable[[str], None]], dict[str, Any]]] = {
    "unwind": unwind.run,
    "phases": phases.run,
    "iter": micro.run_iter,
    "listeners": micro.run_listeners,
    "chunks": chunks.run,
    "concurrent": concurrent.run,
    "asgi": asgi.run,
    "fleet": fleet.run,
    "imports": imports.run,
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(RUNNERS)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {', '.join(RUNNERS)}")
    return list(dict.fromkeys(names))


def _load() -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(RESULTS.read_text(encoding="utf-8"))
        return loaded
    except (OSError, ValueError):
        return {"sections": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few trials; figures not meaningful)")
    parser.add_argument("--only", action="append", metavar="NAME", help=f"run only these: {', '.join(RUNNERS)}")
    parser.add_argument("--report-only", action="store_true", help="regenerate REPORT.md and plots from results.json")
    args = parser.parse_args(argv)

    results = _load()
    if not args.report_only:
        run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        total = time.perf_counter()
        for name in _selected(args.only):
            _log(f"{name}...")
            load_before = load_average()
            start = time.perf_counter()
            data = RUNNERS[name](args.quick, _log)
            duration = time.perf_counter() - start
            _log(f"{name}: {duration:.1f} s")
            results["sections"][name] = {
                "meta": {
                    "run_id": run_id,
                    "quick": args.quick,
                    "duration_s": duration,
                    "load_before": load_before,
                    "load_after": load_average(),
                    "machine": machine(),
                },
                "data": data,
            }
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")  # kept even if a later one fails
        _log(f"all: {time.perf_counter() - total:.1f} s")
    if not results["sections"]:
        raise SystemExit(f"no results in {RESULTS}: run the benchmarks first")
    (HERE / "REPORT.md").write_text(report.render(results), encoding="utf-8")
    for path in report.plots(results, HERE):
        _log(f"wrote {path.relative_to(HERE.parent)}")
    _log(f"wrote {(HERE / 'REPORT.md').relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
