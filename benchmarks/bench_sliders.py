"""Benchmark 2: slider latency (value change -> new PNG) and the model bank's build time.

    python benchmarks/bench_sliders.py                  # latency on the cached bank (built if missing)
    python benchmarks/bench_sliders.py --build          # also time a fresh build (not saved)
    python benchmarks/bench_sliders.py --build --threads 1 2   # the build at 1 and at 2 torch threads

Latency: `slider.value = v` runs the observers synchronously (redraw + PNG encode into the
view), exactly what happens in a kernel when the browser moves the slider; the time is
measured from the assignment until it returns, and the view's PNG must have changed.
The β and latent-dimension explorers alternate; each visits every slider value --passes
times in a seeded random order. The first visit of a member builds its image strip (cold);
later visits reuse it (warm): both are reported. Browser transport is not included.
"""

from __future__ import annotations

import argparse
import random
import time

import _common  # noqa: F401  (puts the repository on sys.path)
import torch
from _common import command_line, machine, median

from vaecourse.bank import BankSpec, build_payload, load_bank
from vaecourse.widgets import BetaExplorer, LatentDimExplorer

TARGET_MS = 100.0
TARGET_BUILD_S = 180.0


def change_latencies(explorer, values: list, seen: set) -> list[tuple[float, float, bool]]:
    """(wall ms, CPU ms, first visit) for moving `explorer.slider` to each value (no-ops skipped)."""
    out = []
    for v in values:
        if v == explorer.slider.value:
            continue
        before = explorer.view.value
        start, cpu = time.perf_counter(), time.process_time()
        explorer.slider.value = v  # observers run synchronously: redraw, render, view.value = png
        ms, cpu_ms = 1e3 * (time.perf_counter() - start), 1e3 * (time.process_time() - cpu)
        if explorer.view.value == before:
            raise AssertionError(f"{type(explorer).__name__}: the figure did not change for value {v}")
        out.append((ms, cpu_ms, v not in seen))
        seen.add(v)
    return out


def visit_order(options: list, passes: int, rng: random.Random) -> list:
    order = []
    for _ in range(passes):
        shuffled = list(options)
        rng.shuffle(shuffled)
        order += shuffled
    return order


def latency(bank, passes: int) -> dict:
    rng = random.Random(0)
    explorers = {"β slider": BetaExplorer(bank), "latent-dim slider": LatentDimExplorer(bank)}
    options = {"β slider": list(bank.betas), "latent-dim slider": list(bank.latent_dims)}
    orders = {name: visit_order(options[name], passes, rng) for name in explorers}
    results = {name: [] for name in explorers}
    seen = {name: {e.slider.value} for name, e in explorers.items()}  # drawn at construction
    for i in range(max(len(o) for o in orders.values())):  # alternate the explorers
        for name, explorer in explorers.items():
            if i < len(orders[name]):
                results[name] += change_latencies(explorer, [orders[name][i]], seen[name])
    return results


def latency_table(results: dict) -> str:
    lines = ["| slider | changes | median ms (all) | p90 ms | median ms (warm) | median ms (cold: first visit) "
             "| median CPU ms |", "|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        all_ms = sorted(ms for ms, _, _ in rows)
        warm = [ms for ms, _, first in rows if not first] or [float("nan")]
        cold = [ms for ms, _, first in rows if first] or [float("nan")]
        p90 = all_ms[int(0.9 * (len(all_ms) - 1))]
        lines.append(f"| {name} | {len(rows)} | **{median(all_ms):.1f}** | {p90:.1f} | {median(warm):.1f} | "
                     f"{median(cold):.1f} | {median([c for _, c, _ in rows]):.1f} |")
    return "\n".join(lines)


def time_build(spec: BankSpec, threads: int | None) -> tuple[float, dict]:
    """(wall seconds, payload) of a fresh build; threads None: the course's "auto" choice."""
    start = time.perf_counter()
    payload = build_payload(spec, progress=False, num_threads=threads or "auto")
    return time.perf_counter() - start, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=5, help="visits of every slider value")
    parser.add_argument("--build", action="store_true", help="also time a fresh bank build")
    parser.add_argument("--threads", type=int, nargs="*", default=[], help="torch threads for the build")
    args = parser.parse_args()
    spec = BankSpec()
    print(f"## Sliders and model bank\n\n`{command_line()}`\n\n{machine()}\n")
    print(f"Bank: {len(spec.grid())} members (β {spec.betas} × latent dim {spec.latent_dims}), "
          f"hidden {spec.hidden}, {spec.epochs} epochs, batch {spec.batch_size}\n")
    builds = []
    if args.build:
        for threads in args.threads or [None]:
            seconds, payload = time_build(spec, threads)
            builds.append(payload)
            label = f"{payload['threads']} thread(s)" + ("" if threads else ' (num_threads="auto": one per idle core)')
            verdict = "meets" if seconds <= TARGET_BUILD_S else "misses"
            print(f"- fresh bank build, {label}: **{seconds:.0f} s** ({verdict} ≤ {TARGET_BUILD_S:.0f} s)", flush=True)
    start = time.perf_counter()
    bank = load_bank(spec, progress=False)
    print(f"- load_bank (cached, or built now if missing): {time.perf_counter() - start:.1f} s; "
          f"its recorded build: {bank.build_seconds:.0f} s")
    for payload in builds:  # same models whatever the threads? (float rounding only)
        gap = (payload["metrics"]["neg_elbo"] - bank.payload["metrics"]["neg_elbo"]).abs().max().item()
        print(f"- the {payload['threads']}-thread build vs the cached bank: test −ELBO differs by at most "
              f"{gap:.3f} nats per image over the {len(spec.grid())} models")
    print()
    results = latency(bank, args.passes)
    print(f"### Slider change → new PNG (target median ≤ {TARGET_MS:.0f} ms)\n")
    print(latency_table(results))


if __name__ == "__main__":
    main()
