#!/usr/bin/env python3
"""The fault schedule and the verdict of bench/gateway_soak.sh (standard library only).

  soak_report.py schedule --seed S --duration D --endpoints N ...   prints "OFFSET ACTION ENDPOINT"
  soak_report.py report --dir OUT ...                               writes summary.json/.txt,
                                                                    exits 1 on any FAIL

The report reads, from OUT: perf/per_request_lifecycle_metrics.json, perf/summary_lifecycle_
metrics.json and perf/kgai_run.json (kgai perf's files), faults.jsonl (one event a line, written
by the script as it injects them), series.tsv (unix time, gateway RSS in KiB, open descriptors),
abuse.json (soak_abuse.py's counts), metrics/*.promtool (promtool's verdict on scrapes of the
gateway's /metrics) and status.json (gateway alive, idle descriptor counts).
"""
import argparse
import glob
import json
import math
import os
import random
import statistics
import sys

# --- schedule ------------------------------------------------------------------------------

# Each fault has a begin and an end action; the script knows how to do each.
FAULTS = {"kill": ("kill", "restart"), "stop": ("stop", "cont"), "errors": ("errors_on", "errors_off")}


def schedule(a):
    rng = random.Random(a.seed)
    hold = {"kill": a.kill_down, "stop": a.stop_hold, "errors": a.error_hold}
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in FAULTS:
            sys.exit(f"soak_report: unknown fault kind '{k}' (kill, stop, errors)")
    start, end = a.warmup, a.duration - a.cooldown
    t = start
    active = []  # (end time, endpoint)
    events = []
    cycle = []
    while kinds and t < end:
        active = [(e, ep) for e, ep in active if e > t]
        if len(active) >= a.max_faulty:
            t = min(e for e, _ in active) + 0.5
            continue
        if not cycle:  # every kind once per cycle, in a seeded order
            cycle = kinds[:]
            rng.shuffle(cycle)
        kind = cycle[0]
        d = hold[kind]
        if t + d > end:
            break
        cycle.pop(0)
        busy = {ep for _, ep in active}
        ep = rng.choice([i for i in range(a.endpoints) if i not in busy])
        begin, finish = FAULTS[kind]
        events.append((t, begin, ep))
        events.append((t + d, finish, ep))
        active.append((t + d, ep))
        t += a.gap * rng.uniform(0.5, 1.5)
    for off, action, ep in sorted(events):
        print(f"{off:.2f} {action} {ep}")


# --- report --------------------------------------------------------------------------------

def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def percentile(values, p):
    """numpy's linear interpolation, as kgai perf uses."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def window_median(series, col, t0, t1):
    vals = [row[col] for row in series if t0 <= row[0] < t1]
    return statistics.median(vals) if vals else None


def window_min(series, col, t0, t1):
    vals = [row[col] for row in series if t0 <= row[0] < t1]
    return min(vals) if vals else None


def slope_per_min(series, col, t0, t1):
    pts = [(row[0], row[col]) for row in series if t0 <= row[0] < t1]
    if len(pts) < 10:
        return None
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def report(a):
    d = a.dir
    out = {"bounds": {}, "lines": [], "figures": {}}
    lines = out["lines"]

    def verdict(name, ok, text):
        lines.append({"check": name, "result": "PASS" if ok else "FAIL", "detail": text})

    status = load_json(os.path.join(d, "status.json"), {})
    run = load_json(os.path.join(d, "perf", "kgai_run.json"), {})
    summary = load_json(os.path.join(d, "perf", "summary_lifecycle_metrics.json"), {})
    records = load_json(os.path.join(d, "perf", "per_request_lifecycle_metrics.json"), [])
    abuse = load_json(os.path.join(d, "abuse.json"), {})
    faults = []
    try:
        with open(os.path.join(d, "faults.jsonl")) as f:
            faults = [json.loads(line) for line in f if line.strip()]
    except OSError:
        pass
    series = []
    try:
        with open(os.path.join(d, "series.tsv")) as f:
            for line in f:
                p = line.split()
                if len(p) == 3 and p[0][0].isdigit():
                    series.append((float(p[0]), float(p[1]) / 1024, float(p[2])))
    except OSError:
        pass
    start_at = float(run.get("start_at") or status.get("start_at") or 0)
    duration = a.duration
    out["figures"]["start_at"] = start_at
    out["figures"]["duration_s"] = duration

    # 1. The gateway survived.
    alive = bool(status.get("gateway_alive"))
    verdict("gateway alive", alive,
            "alive and /health answered at the end" if alive else
            f"gateway gone: {status.get('gateway_death', 'not running at the end')}")

    # 2. Normal requests lost, less the ones a fault is allowed to take.
    for r in records:
        r["t_sent"] = start_at + r["start_time"]
        r["t_end"] = start_at + r["end_time"]
    failed = [r for r in records if not r["success"]]
    attributed = {}  # id(record) -> reason
    # Requests in flight on an endpoint when it is killed, restarted or hung cannot be saved by
    # the gateway once their answer has started: a failure sent before the signal that ended
    # within KILL_WINDOW s after it (after the SIGCONT, for a hang) is excused, at most the
    # gateway's in-flight count there just before the signal + KILL_SLACK.
    conts = {}
    for e in faults:
        if e["action"] == "cont":
            conts.setdefault(e["endpoint"], []).append(e["t"])
    kill_events = [e for e in faults if e["action"] in ("kill", "errors_on", "errors_off", "stop")]
    kill_rows = []
    for e in kill_events:
        tk = e["t"]
        until = tk
        if e["action"] == "stop":
            until = min((t for t in conts.get(e["endpoint"], []) if t >= tk), default=float("inf"))
        cands = [r for r in failed if id(r) not in attributed
                 and r["t_sent"] <= tk + a.kill_sent_slack
                 and tk - a.kill_sent_slack <= r["t_end"] <= until + a.kill_window]
        cap = int(e.get("in_flight") or 0) + a.kill_slack
        cands.sort(key=lambda r: r["t_end"])
        took = cands[:cap]
        for r in took:
            attributed[id(r)] = "in flight at " + e["action"]
        kill_rows.append({"t": round(tk - start_at, 2), "action": e["action"],
                          "endpoint": e.get("address"), "in_flight": e.get("in_flight"),
                          "failures_in_window": len(cands), "excused": len(took)})
    windows = []
    opened = {}
    for e in faults:
        key = (e["endpoint"], {"errors_on": "errors", "errors_off": "errors", "stop": "stop",
                               "cont": "stop"}.get(e["action"]))
        if e["action"] in ("errors_on", "stop"):
            opened[key] = e["t"]
        elif e["action"] in ("errors_off", "cont") and key in opened:
            windows.append((key[1], key[0], opened.pop(key), e["t"]))
    for (kind, ep), t in opened.items():
        windows.append((kind, ep, t, float("inf")))
    grace = {"errors": a.error_grace, "stop": a.hang_grace}
    lost_by = {}
    for r in failed:
        if id(r) in attributed:
            continue
        reason = "no fault active"
        for kind, ep, t0, t1 in windows:
            if t0 <= r["t_sent"] <= t1 + a.kill_window:
                if r["t_sent"] <= t0 + grace[kind]:
                    attributed[id(r)] = f"within {grace[kind]} s of the {kind} fault's start"
                    break
                reason = f"during a {kind} fault"
        if id(r) in attributed:
            continue
        r["lost_reason"] = reason
        err = r.get("error", {})
        key = f"{reason}: {err.get('kind')} {err.get('http_status') or ''}".strip()
        lost_by[key] = lost_by.get(key, 0) + 1
    lost = sum(lost_by.values())
    excused = len(attributed)
    out["figures"]["requests"] = {"total": len(records), "succeeded": len(records) - len(failed),
                                  "failed": len(failed), "excused": excused, "lost": lost,
                                  "lost_by_reason": lost_by}
    out["figures"]["kill_windows"] = kill_rows
    out["figures"]["fault_windows"] = [
        {"kind": k, "endpoint": ep, "from": round(t0 - start_at, 2),
         "to": None if t1 == float("inf") else round(t1 - start_at, 2)} for k, ep, t0, t1 in windows]
    examples = [{"sent": round(r["start_time"], 3), "end": round(r["end_time"], 3),
                 "reason": r["lost_reason"], "error": r.get("error")}
                for r in failed if "lost_reason" in r][:20]
    out["figures"]["lost_examples"] = examples
    verdict("normal requests lost", len(records) > 0 and lost <= a.lost_max,
            f"{lost} lost of {len(records)} (bound {a.lost_max}); {len(failed)} failed, {excused} "
            f"excused (in flight on an endpoint at its kill, restart or hang, capped at the "
            f"gateway's in-flight count there + {a.kill_slack}; or sent within {a.error_grace} s "
            f"of an error fault's / {a.hang_grace} s of a hang's start)" +
            (f"; lost: {lost_by}" if lost_by else ""))

    # 3. TTFT of normal traffic.
    lat = summary.get("successes", {}).get("latency", {}).get("time_to_first_token", {})
    p99 = lat.get("p99")
    pairs = [(r["first_token_time"] - r["start_time"],
              any(k == "stop" and t0 <= r["t_sent"] <= t1 for k, _, t0, t1 in windows))
             for r in records if r["success"] and r.get("first_token_time") is not None]
    in_hang = [x for x, hung in pairs if hung]
    out["figures"]["ttft_s"] = {"median": lat.get("median"), "p90": lat.get("p90"), "p99": p99,
                                "max": lat.get("max"), "count": len(pairs),
                                "sent_during_hangs": len(in_hang),
                                "over_bound": sum(1 for x, _ in pairs if x > a.ttft_p99_max),
                                "p99_outside_hangs": percentile(
                                    [x for x, hung in pairs if not hung], 99)}
    verdict("p99 TTFT", p99 is not None and p99 <= a.ttft_p99_max,
            f"p99 {fmt_s(p99)} (bound {a.ttft_p99_max} s), median {fmt_s(lat.get('median'))}, "
            f"max {fmt_s(lat.get('max'))}; {out['figures']['ttft_s']['over_bound']} successes over "
            f"the bound; {len(in_hang)} were sent while an endpoint hung")

    # 4. The generator kept its schedule (otherwise the run measured the client).
    sd = summary.get("load_summary", {}).get("schedule_delay", {})
    out["figures"]["schedule_delay_s"] = {"p99": sd.get("p99"), "max": sd.get("max")}
    verdict("load generator on schedule", sd.get("p99") is not None and
            sd["p99"] <= a.schedule_delay_max,
            f"schedule delay p99 {fmt_s(sd.get('p99'))} (bound {a.schedule_delay_max} s), max "
            f"{fmt_s(sd.get('max'))}")

    # 5. RSS and 6. descriptors, flat.
    b0, b1 = start_at + a.baseline_from, start_at + a.baseline_to
    f0, f1 = start_at + duration - a.final_window, start_at + duration
    rss_b, rss_f = window_median(series, 1, b0, b1), window_median(series, 1, f0, f1)
    # Descriptors: the floor (minimum) of each window. Connection floods come and go (300 for 10
    # s of every 30), so a median depends on where a window falls; a leak raises the floor.
    fd_b, fd_f = window_min(series, 2, b0, b1), window_min(series, 2, f0, f1)
    rss_max = max((row[1] for row in series), default=None)
    fd_max = max((row[2] for row in series), default=None)
    out["figures"]["rss_mb"] = {"baseline_median": rss_b, "final_median": rss_f, "max": rss_max,
                                "slope_mb_per_min_after_baseline":
                                    slope_per_min(series, 1, b0, f1),
                                "before_prime": kib_mb(status.get("rss_kib_before_prime")),
                                "after_prime": kib_mb(status.get("rss_kib_after_prime")),
                                "baseline_window_s": [a.baseline_from, a.baseline_to],
                                "final_window_s": [duration - a.final_window, duration]}
    out["figures"]["fds"] = {"baseline_min": fd_b, "final_min": fd_f, "max": fd_max,
                             "idle_before_load": status.get("fds_idle_before"),
                             "idle_after_load": status.get("fds_idle_after")}
    if rss_b is not None and rss_f is not None:
        allowed = max(rss_b * a.rss_growth_pct / 100, a.rss_growth_mb)
        verdict("RSS flat", rss_f - rss_b <= allowed,
                f"median {rss_b:.1f} MB in [{a.baseline_from:g}, {a.baseline_to:g}) s, {rss_f:.1f} MB "
                f"in the last {a.final_window:g} s: {rss_f - rss_b:+.1f} MB (bound +{allowed:.1f} MB "
                f"= max({a.rss_growth_pct:g} %, {a.rss_growth_mb:g} MB)); max {rss_max:.1f} MB")
    else:
        verdict("RSS flat", False, "no RSS samples in the windows")
    ib, ia = status.get("fds_idle_before"), status.get("fds_idle_after")
    if fd_b is not None and fd_f is not None and ib is not None and ia is not None:
        ok = fd_f - fd_b <= a.fd_slack and ia - ib <= a.fd_slack
        verdict("descriptors flat", ok,
                f"floor {fd_b:g} in the baseline window, {fd_f:g} in the last {a.final_window:g} s; "
                f"idle {ib} before the load, {ia} after it drained (bound +{a.fd_slack} each); "
                f"max {fd_max:g}")
    else:
        verdict("descriptors flat", False, "no descriptor samples")

    # 7. /metrics valid.
    checks = []
    for path in sorted(glob.glob(os.path.join(d, "metrics", "*.promtool"))):
        with open(path) as f:
            text = f.read()
        rc_line, _, body = text.partition("\n")
        parse_error = "error while linting" in body or "parsing error" in body or \
            "text format parsing" in body
        checks.append({"scrape": os.path.basename(path)[:-9], "rc": rc_line.strip(),
                       "valid": not parse_error and "empty" not in rc_line,
                       "lint": [l for l in body.splitlines() if l.strip()][:10]})
    scrapes = abuse.get("metrics", {})
    bad_scrapes = {k: v for k, v in scrapes.items() if k != "status_200"}
    out["figures"]["metrics_checks"] = checks
    valid = bool(checks) and all(c["valid"] for c in checks) and not bad_scrapes
    verdict("/metrics valid", valid,
            f"{sum(c['valid'] for c in checks)} of {len(checks)} scrapes parse "
            f"({'promtool check metrics' if checks and checks[0]['rc'] != 'no-promtool' else 'no promtool'}; "
            f"lint findings are listed, not judged); the abusive scrape loop got "
            f"{scrapes or 'nothing (not run)'}")

    out["abuse"] = abuse
    out["prime"] = load_json(os.path.join(d, "prime.json"), {})
    out["faults"] = [{**e, "offset": round(e["t"] - start_at, 2)} for e in faults]
    out["bounds"] = {k: v for k, v in vars(a).items() if k not in ("dir", "cmd", "func")}
    out["result"] = "PASS" if all(l["result"] == "PASS" for l in lines) else "FAIL"
    out["settings"] = status.get("settings", {})

    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
        f.write("\n")
    text = render_text(out)
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0 if out["result"] == "PASS" else 1


def kib_mb(v):
    return None if v is None else round(v / 1024, 1)


def fmt_mb(v):
    return "n/a" if v is None else f"{v:.1f} MB"


def fmt_s(v):
    return "n/a" if v is None else f"{v * 1000:.1f} ms"


def render_text(out):
    fig = out["figures"]
    t = []
    s = out.get("settings", {})
    if s:
        t.append("settings: " + ", ".join(f"{k}={v}" for k, v in s.items()))
    req = fig["requests"]
    t.append(f"normal requests: {req['total']} sent, {req['succeeded']} ok, {req['failed']} failed "
             f"({req['excused']} excused, {req['lost']} lost)")
    ttft = fig["ttft_s"]
    t.append(f"TTFT: median {fmt_s(ttft['median'])}, p90 {fmt_s(ttft['p90'])}, p99 "
             f"{fmt_s(ttft['p99'])}, max {fmt_s(ttft['max'])}; p99 of requests sent outside hangs "
             f"{fmt_s(ttft['p99_outside_hangs'])}")
    t.append("faults (offset s, action, endpoint, gateway in-flight there just before):")
    for e in out["faults"]:
        extra = f" in_flight={e['in_flight']}" if e.get("in_flight") is not None else ""
        t.append(f"  {e['offset']:8.2f}  {e['action']:<10} {e.get('address', '')}{extra}")
    for k in fig["kill_windows"]:
        t.append(f"  in flight at {k['t']} s ({k['action']} {k['endpoint']}): "
                 f"{k['failures_in_window']} failures, {k['excused']} excused")
    if req["lost_by_reason"]:
        t.append("lost by reason: " + json.dumps(req["lost_by_reason"]))
    r, fd = fig["rss_mb"], fig["fds"]
    slope = r["slope_mb_per_min_after_baseline"]
    t.append(f"gateway RSS: {r['before_prime']} MB idle, {r['after_prime']} MB after each one-shot "
             f"abusive request twice; run: baseline {fmt_mb(r['baseline_median'])}, final "
             f"{fmt_mb(r['final_median'])}, max {fmt_mb(r['max'])}, trend "
             f"{'n/a' if slope is None else f'{slope:+.2f} MB/min'}")
    t.append(f"gateway descriptors: floor {fd['baseline_min']} in the baseline window, "
             f"{fd['final_min']} in the final one, "
             f"max {fd['max']}, idle before {fd['idle_before_load']}, after {fd['idle_after_load']}")
    prime = out.get("prime", {}).get("prime")
    if prime:
        t.append("priming (each one-shot abusive request twice): " +
                 ", ".join(f"{k}={v}" for k, v in prime.items()))
    t.append("abusive clients (outcome: count):")
    for kind, counts in out["abuse"].items():
        t.append(f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    t.append("verdict:")
    for line in out["lines"]:
        t.append(f"  {line['result']}  {line['check']}: {line['detail']}")
    t.append(f"result: {out['result']}")
    return "\n".join(t) + "\n"


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schedule")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--endpoints", type=int, default=4)
    s.add_argument("--warmup", type=float, default=30)
    s.add_argument("--cooldown", type=float, default=30)
    s.add_argument("--gap", type=float, default=20)
    s.add_argument("--kill-down", type=float, default=10)
    s.add_argument("--stop-hold", type=float, default=8)
    s.add_argument("--error-hold", type=float, default=15)
    s.add_argument("--max-faulty", type=int, default=2)
    s.add_argument("--kinds", default="kill,stop,errors")
    s.set_defaults(func=schedule)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--lost-max", type=int, default=0)
    r.add_argument("--kill-window", type=float, default=5)
    r.add_argument("--kill-slack", type=int, default=2)
    r.add_argument("--kill-sent-slack", type=float, default=0.05)
    r.add_argument("--error-grace", type=float, default=1)
    r.add_argument("--hang-grace", type=float, default=1)
    r.add_argument("--ttft-p99-max", type=float, default=1)
    r.add_argument("--schedule-delay-max", type=float, default=0.05)
    r.add_argument("--baseline-from", type=float, default=60)
    r.add_argument("--baseline-to", type=float, default=120)
    r.add_argument("--final-window", type=float, default=60)
    r.add_argument("--rss-growth-pct", type=float, default=20)
    r.add_argument("--rss-growth-mb", type=float, default=16)
    r.add_argument("--fd-slack", type=int, default=64)
    r.set_defaults(func=lambda a: sys.exit(report(a)))
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
