#!/usr/bin/env python3
# Copyright 2026 The tether authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/bench's report: reads the runs it recorded (one JSON object a
line), prints the table, checks the issue's targets, and writes bench.json,
bench.md and the chart's data (throughput.dat)."""

import argparse
import json
import os
import statistics
import sys

MIB = 1024

# the targets
TARGET_BATCH_VS_BASELINE = 0.9
TARGET_PUBLISH_VS_CEILING = 0.8
TARGET_IDLE_PSS_KB = 8 * MIB
TARGET_AFTER_MILLION_KB = 1 * MIB
TARGET_START_MS = 300


def rate(run):
    """messages a second, from the first call to the last arrival"""
    if run["name"] == "ceiling" or run["name"] == "latency":
        end = run["replied_us"]
    else:
        end = run["sub"]["last_us"]
    elapsed = max(end - run["start_us"], 1)
    return run["count"] * 1e6 / elapsed


def median(values):
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--batch-bytes", type=int, default=0)
    parser.add_argument("--batch-window", type=int, required=True)
    args = parser.parse_args()

    runs = [json.loads(line) for line in open(args.runs, encoding="utf-8") if line.strip()]
    by_name = {}
    for run in runs:
        by_name.setdefault(run["name"], []).append(run)

    def runs_of(name, size=None):
        return [r for r in by_name.get(name, []) if size is None or r.get("size") == size]

    def rate_of(name, size):
        return median([rate(r) for r in runs_of(name, size)])

    def cpu_per_1000(name, size):
        return median([r["cpu_ms"] * 1000 / r["count"] for r in runs_of(name, size)])

    def budget(name, size):
        """CPU ms per 1000 messages of every process on the path, medians over the rounds"""
        parts = {}
        for run in runs_of(name, size):
            per = 1000 / run["count"]
            row = {
                "service": run["cpu_ms"] * per,
                "dbus_client": run.get("client_cpu_ms", 0) * per,
                "dbus_daemon": run["dbus_cpu_ms"] * per,
                "mosquitto": run["mosquitto_cpu_ms"] * per,
                "subscriber": run["sub"]["cpu_ms"] * per if "sub" in run else 0,
            }
            if name == "baseline":
                row["dbus_client"] = row["dbus_daemon"] = 0
            if name == "ceiling":
                row["mosquitto"] = 0
            for key, value in row.items():
                parts.setdefault(key, []).append(value)
        if not parts:
            return None
        result = {key: median(values) for key, values in parts.items()}
        result["total"] = sum(result.values())
        return result

    main_size = by_name["latency"][0]["size"]
    sizes = sorted({r["size"] for r in by_name.get("baseline", [])})

    # throughput, per size
    throughput = []
    for size in sizes:
        row = {
            "size": size,
            "count": runs_of("baseline", size)[0]["count"],
            "baseline": rate_of("baseline", size),
            "publish": rate_of("publish", size),
            "batch": rate_of("batch", size),
            "ceiling": rate_of("ceiling", size),
            "cpu_ms_per_1000": {
                "baseline_client": cpu_per_1000("baseline", size),
                "tetherd_publish": cpu_per_1000("publish", size),
                "tetherd_batch": cpu_per_1000("batch", size),
            },
        }
        row["batch_vs_baseline"] = row["batch"] / row["baseline"]
        row["publish_vs_baseline"] = row["publish"] / row["baseline"]
        if row["ceiling"] is not None:
            row["publish_vs_ceiling"] = row["publish"] / row["ceiling"]
        throughput.append(row)
    main_row = next(row for row in throughput if row["size"] == main_size)

    cpu_budget = {name: budget(name, main_size) for name in ("baseline", "ceiling", "publish",
                                                              "batch")}

    # latency: alone (one call at a time) and under load (the window full)
    alone = by_name["latency"][0]
    loaded = runs_of("publish", main_size)
    latency = {
        "alone_median_us": alone["latency_median_us"],
        "alone_p99_us": alone["latency_p99_us"],
        "loaded_median_us": median([r["latency_median_us"] for r in loaded]),
        "loaded_p99_us": median([r["latency_p99_us"] for r in loaded]),
        "batch_call_median_us": median(
            [r["latency_median_us"] for r in runs_of("batch", main_size)]),
        "batch_call_p99_us": median([r["latency_p99_us"] for r in runs_of("batch", main_size)]),
    }

    # memory: idle, peak over every tether run, after a million
    idle = by_name["memory-idle"][0]
    warm = by_name.get("memory-warm", [None])[0]
    tether_runs = runs_of("publish") + runs_of("batch") + runs_of("million") + runs_of("latency")
    peak = {
        key: max(r[f"{key}_peak_kb"] for r in tether_runs) for key in ("rss", "pss", "anon")
    }
    after = by_name.get("memory-after-million", [None])[0]
    memory = {
        "idle": {k: idle[f"{k}_kb"] for k in ("rss", "pss", "anon")},
        "warm": ({k: warm[f"{k}_kb"] for k in ("rss", "pss", "anon")} if warm else None),
        "peak": peak,
        "after_million": ({k: after[f"{k}_kb"] for k in ("rss", "pss", "anon")}
                          if after else None),
        "clouds": by_name["plugins"][0]["clouds"],
    }
    million = by_name.get("million", [None])[0]

    # the machine, and its load average (1, 5, 15 min) as the run began and ended
    start_machine = by_name.get("machine-start", [{}])[0]
    end_machine = by_name.get("machine-end", [{}])[0]
    machine = {"cpus": os.cpu_count(), "cpu_model": start_machine.get("cpu_model"),
               "kernel": os.uname().release, "started_utc": start_machine.get("utc"),
               "loadavg_start": start_machine.get("loadavg"),
               "loadavg_end": end_machine.get("loadavg")}

    starts = [r["ms"] for r in by_name["start"]]
    start = {"median_ms": median(starts), "all_ms": starts}

    targets = {
        "batch_vs_baseline": {
            "target": f">= {TARGET_BATCH_VS_BASELINE}",
            "value": round(main_row["batch_vs_baseline"], 3),
            "met": main_row["batch_vs_baseline"] >= TARGET_BATCH_VS_BASELINE,
        },
        "publish_vs_ceiling": {
            "target": f">= {TARGET_PUBLISH_VS_CEILING}",
            "value": round(main_row["publish_vs_ceiling"], 3),
            "met": main_row["publish_vs_ceiling"] >= TARGET_PUBLISH_VS_CEILING,
        },
        "idle_pss_kb": {
            "target": f"PSS <= {TARGET_IDLE_PSS_KB // MIB} MiB",
            "value": memory["idle"]["pss"],
            "met": memory["idle"]["pss"] <= TARGET_IDLE_PSS_KB,
        },
        "start_to_connected_ms": {
            "target": f"<= {TARGET_START_MS} ms",
            "value": round(start["median_ms"], 1),
            "met": start["median_ms"] <= TARGET_START_MS,
        },
    }
    if after:
        growth = after["pss_kb"] - idle["pss_kb"]
        targets["pss_after_million_minus_idle_kb"] = {
            "target": f"PSS <= idle + {TARGET_AFTER_MILLION_KB // MIB} MiB",
            "value": growth,
            "met": growth <= TARGET_AFTER_MILLION_KB,
        }

    report = {
        "mode": args.mode,
        "machine": machine,
        "window": args.window,
        "batch": args.batch,
        "batch_calls_in_flight": args.batch_window,
        "main_size": main_size,
        "throughput": throughput,
        "cpu_ms_per_1000_at_main_size": cpu_budget,
        "latency": latency,
        "memory_kb": memory,
        "million": ({"rate": rate(million), "cpu_ms_per_1000": million["cpu_ms"] / 1000}
                    if million else None),
        "start_to_connected": start,
        "targets": targets,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "throughput.dat"), "w", encoding="utf-8") as f:
        f.write("# size baseline publish batch (messages/s)\n")
        for row in throughput:
            f.write(f"{row['size']} {row['baseline']:.0f} {row['publish']:.0f} "
                    f"{row['batch']:.0f}\n")

    # the table, for people and for the README
    lines = []
    lines.append(f"QoS 1 over mutual TLS to a local mosquitto; {os.cpu_count()} CPUs"
                 f"{' (' + machine['cpu_model'] + ')' if machine['cpu_model'] else ''}; "
                 f"window {args.window}; PublishBatch of {args.batch}"
                 f"{f' (at most {args.batch_bytes // 1024} KiB of payload)' if args.batch_bytes else ''}, "
                 f"{args.batch_window} calls in flight; {args.mode} run"
                 f"{' of ' + machine['started_utc'] + ' UTC' if machine['started_utc'] else ''}"
                 ".")
    if machine["loadavg_start"] is not None:
        lines.append(f"Load average (1, 5, 15 min) at the start "
                     f"{', '.join(str(x) for x in machine['loadavg_start'])}, at the end "
                     f"{', '.join(str(x) for x in machine['loadavg_end'] or [])}: every "
                     "figure comes from this one run, so the ratios compare like with like.")
    lines.append("")
    lines.append("| payload | messages | 1 baseline (Paho) msg/s | 2 D-Bus ceiling calls/s "
                 "| 3 tether Publish msg/s | 4 tether PublishBatch msg/s | 3/2 | 4/1 "
                 "| tetherd CPU ms/1000 (3, 4) |")
    lines.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in throughput:
        ratio_32 = row.get("publish_vs_ceiling")
        cpu = row["cpu_ms_per_1000"]
        lines.append(
            f"| {row['size']} B | {row['count']:,} | {fmt(row['baseline'])} "
            f"| {fmt(row['ceiling'])} | {fmt(row['publish'])} | {fmt(row['batch'])} "
            f"| {fmt(ratio_32, 2)} | {fmt(row['batch_vs_baseline'], 2)} "
            f"| {fmt(cpu['tetherd_publish'], 1)}, {fmt(cpu['tetherd_batch'], 1)} |")
    lines.append("")
    lines.append(f"CPU time per 1000 messages of {main_size} B, in ms, of every process on the path "
                 "(the service is bench-mqtt for 1, bench-ceiling for 2, tetherd for 3 and 4):")
    lines.append("")
    lines.append("| path | service | D-Bus client | dbus-daemon | mosquitto | subscriber | total |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {"baseline": "1 baseline", "ceiling": "2 D-Bus ceiling", "publish": "3 Publish",
              "batch": "4 PublishBatch"}
    for name, label in labels.items():
        row = cpu_budget[name]
        if row is None:
            continue
        lines.append(f"| {label} | {row['service']:.0f} | {row['dbus_client']:.0f} "
                     f"| {row['dbus_daemon']:.0f} | {row['mosquitto']:.0f} "
                     f"| {row['subscriber']:.0f} | {row['total']:.0f} |")
    sweep = sorted(((int(name[len("batch-"):]), rate(run)) for name, found in by_name.items()
                    if name.startswith("batch-") for run in found))
    if sweep:
        sweep.append((args.batch, main_row["batch"]))
        sweep.sort()
        lines.append("")
        lines.append(f"PublishBatch by batch size, {main_size} B: " + ", ".join(
            f"{b}: {fmt(r)} msg/s ({r / main_row['baseline']:.2f} of 1)" for b, r in sweep))
        report["batch_sizes"] = [{"batch": b, "rate": r} for b, r in sweep]
    lines.append("")
    lines.append("| measure | value | target | met |")
    lines.append("| --- | ---: | ---: | --- |")

    def target_row(label, value, key):
        target = targets.get(key)
        if target is None:
            lines.append(f"| {label} | {value} | | |")
        else:
            lines.append(f"| {label} | {value} | {target['target']} | "
                         f"{'yes' if target['met'] else 'no'} |")

    target_row(f"PublishBatch / baseline at {main_size} B", fmt(main_row["batch_vs_baseline"], 2),
               "batch_vs_baseline")
    target_row(f"Publish / D-Bus ceiling at {main_size} B", fmt(main_row["publish_vs_ceiling"], 2),
               "publish_vs_ceiling")
    target_row("Publish latency alone, median / p99",
               f"{latency['alone_median_us']} / {latency['alone_p99_us']} µs", None)
    target_row(f"Publish latency with {args.window} in flight, median / p99",
               f"{fmt(latency['loaded_median_us'])} / {fmt(latency['loaded_p99_us'])} µs", None)
    for label, key in (("idle", "idle"), (f"after its first {alone['count']:,} Publish calls",
                                          "warm"),
                       ("peak", "peak"), ("after a million", "after_million")):
        mem = memory[key]
        if mem is None:
            continue
        value = (f"RSS {mem['rss'] / MIB:.1f} MiB, PSS {mem['pss'] / MIB:.1f} MiB, "
                 f"anonymous {mem['anon'] / MIB:.1f} MiB")
        if key == "idle":
            target_row(f"tetherd memory {label} ({', '.join(memory['clouds'])}; one connection)",
                       value, "idle_pss_kb")
        elif key == "after_million":
            growth = mem["pss"] - memory["idle"]["pss"]
            versus_warm = (f", {(mem['pss'] - memory['warm']['pss']) / MIB:+.1f} MiB against "
                           "the warm daemon" if memory["warm"] else "")
            target_row(f"tetherd memory {label} (PSS {growth / MIB:+.1f} MiB against idle"
                       f"{versus_warm})", value, "pss_after_million_minus_idle_kb")
        else:
            target_row(f"tetherd memory {label}", value, None)
    target_row("start to connected, median", f"{start['median_ms']:.0f} ms "
               f"(of {len(starts)})", "start_to_connected_ms")
    if million:
        target_row("a million messages through PublishBatch",
                   f"{fmt(rate(million))} msg/s, tetherd CPU "
                   f"{million['cpu_ms'] / 1000:.1f} ms/1000", None)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "bench.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "bench.md"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
