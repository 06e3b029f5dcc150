"""Analysis and formatting of a benchmark run: within-round ratios, tables, Markdown, chart.

Every value a worker reports is kept per round. A ratio is computed inside each
round (the two processes ran minutes apart at most, under the same load) and the
table gives the median of those per-round ratios with their interquartile range;
latest.json keeps every round's value and ratio.
"""

from __future__ import annotations

import os
import statistics

LABEL = {"chainrule": "chainrule", "baseline": "chainrule (baseline)",
         "compiled": "chainrule (cr.compile)", "torch": "PyTorch",
         "jax": "JAX (jit)", "numpy": "NumPy (hand)", "sklearn": "sklearn MLP",
         "chainrule_sklearn": "cr.sklearn"}
SHORT = {"chainrule": "cr", "baseline": "base", "compiled": "cr.compile", "torch": "torch",
         "jax": "jax", "numpy": "numpy", "sklearn": "sklearn", "chainrule_sklearn": "cr.skl"}
#: column order of the peers in a table
ORDER = ("chainrule", "numpy", "torch", "jax", "baseline", "compiled", "sklearn",
         "chainrule_sklearn")


def time_ratio(base, peer, higher_is_better):
    """The base's time (or memory) over the peer's: < 1 means the base is faster/smaller."""
    if base is None or peer is None or base == 0 or peer == 0:
        return None
    return peer / base if higher_is_better else base / peer


def quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def evaluate(results, meta, bases, targets):
    """Rows (one per case and metric) with medians and within-round ratio statistics."""
    rows, checks = [], []
    for case, metrics in results.items():
        base = bases[case]
        for metric, per_fw in metrics.items():
            m = meta[case][metric]
            hib = m["higher_is_better"]
            med = {fw: statistics.median(v.values()) for fw, v in per_fw.items() if v}
            own = per_fw.get(base, {})
            ratios = {}
            for fw in ORDER:
                if fw == base or fw not in per_fw:
                    continue
                per_round = {r: time_ratio(own[r], v, hib) for r, v in per_fw[fw].items()
                             if r in own}
                vals = [x for x in per_round.values() if x is not None]
                if not vals:
                    continue
                q1, q3 = quartiles(vals)
                ratios[fw] = {"median": statistics.median(vals), "q1": q1, "q3": q3,
                              "min": min(vals), "max": max(vals), "rounds": len(vals),
                              "per_round": per_round}
            row = {"case": case, "metric": metric, "unit": m["unit"], "base": base,
                   "higher_is_better": hib, "median": med, "values": per_fw, "ratio": ratios,
                   "targets": []}
            for tcase, tmetric, peer, op, bound in targets:
                if (tcase, tmetric) != (case, metric):
                    continue
                if peer is None:
                    measured = med.get(base)
                else:
                    measured = ratios.get(peer, {}).get("median")
                if measured is None:
                    status = "n/a"
                elif op == "<=":
                    status = "PASS" if measured <= bound else "MISS"
                else:
                    status = "PASS" if measured < bound else "MISS"
                what = f"{m['unit']}" if peer is None else f"x {SHORT[peer]}"
                check = {"case": case, "metric": metric, "peer": peer, "op": op, "bound": bound,
                         "measured": measured, "status": status,
                         "label": f"{op} {bound:g} {what}".strip()}
                row["targets"].append(check)
                checks.append(check)
            rows.append(row)
    return rows, checks


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit == "samples/s":
        return f"{v / 1e3:.1f}k" if v < 1e6 else f"{v / 1e6:.2f}M"
    if unit in ("us/step", "GFLOP/s"):
        return f"{v:.1f}"
    if unit == "s":
        return f"{v:.3f}"
    if unit == "MB":
        return f"{v:.2f}"
    return f"{v:.4g}"


def fmt_ratio(r):
    if r is None:
        return "-"
    if r["rounds"] < 3:
        return f"{r['median']:.2f}"
    return f"{r['median']:.2f} [{r['q1']:.2f}-{r['q3']:.2f}]"


def tables(rows):
    """One (title, head, body) table per base framework (chainrule; NumPy for the GEMMs)."""
    out = []
    for base in dict.fromkeys(r["base"] for r in rows):
        mine = [r for r in rows if r["base"] == base]
        fws = [f for f in ORDER if any(f in r["median"] for r in mine)]
        peers = [f for f in fws if f != base]
        b = SHORT[base]
        head = (["case", "metric", "unit"] + [LABEL[f] for f in fws]
                + [f"{b}/{SHORT[p]}" for p in peers] + ["target", "result"])
        body = []
        for r in mine:
            u = r["unit"]
            cells = [r["case"], r["metric"], u] + [fmt_value(r["median"].get(f), u) for f in fws]
            cells += [fmt_ratio(r["ratio"].get(p)) for p in peers]
            cells.append("; ".join(t["label"] for t in r["targets"]) or "-")
            cells.append(" ".join(t["status"] for t in r["targets"]) or "-")
            body.append(cells)
        title = (f"{LABEL[base]} against its peers: time ratios {b}/peer, median of the "
                 f"within-round ratios [interquartile range], lower is better")
        out.append((title, head, body))
    return out


def text_table(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    sep = "  ".join("-" * w for w in widths)
    rows = ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join([line, sep, *rows])


def md_table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in body]
    return "\n".join(out)


def atomic_write(path, data, mode="w"):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, mode) as f:
        f.write(data)
    os.replace(tmp, path)


def machine_lines(machine):
    lines = [f"- CPU: {machine['cpu_model']} (family {machine.get('cpu_family')} model "
             f"{machine.get('cpu_model_number')}), {machine['cores']} cores, "
             f"{machine['mem_total_gb']} GB",
             f"- Python {machine['python']}, NumPy {machine['numpy']}, PyTorch {machine['torch']}, "
             f"JAX {machine.get('jax')}, scikit-learn {machine['scikit-learn']}, chainrule at "
             f"{machine['chainrule_git']}",
             f"- BLAS (workers): {machine['blas_line']}",
             f"- Removed from the workers' environment: {machine['removed_env'] or 'none set'}"]
    if machine.get("blas_with_machine_env"):
        lines.append(f"- BLAS with the machine's environment: {machine['blas_with_machine_env']}")
    if machine.get("torch_info"):
        lines.append(f"- PyTorch: {machine['torch_info']}")
    if machine.get("baseline"):
        lines.append(f"- Baseline: chainrule at {machine['baseline']}")
    if machine.get("compete"):
        lines.append(f"- {machine['compete']} competing CPU-bound process(es) ran during the "
                     f"whole run")
    lines.append(f"- Load average at start / end: {machine['loadavg_start']} / "
                 f"{machine.get('loadavg_end')}")
    return lines


def markdown(machine, settings, tabs, checks, notes):
    lines = ["# chainrule benchmarks: latest run", "",
             f"{machine['date']} · `python benchmarks/run.py "
             f"{' '.join(settings['argv'])}`".rstrip() + " · "
             f"{settings.get('rounds_done', settings['repeats'])} of {settings['repeats']} "
             f"rounds done · {settings['elapsed_s']:.0f} s", "",
             "## Machine", "", *machine_lines(machine), ""]
    for title, head, body in tabs:
        lines += [f"## {title}", "", md_table(head, body), ""]
    missed = [c for c in checks if c["status"] == "MISS"]
    lines.append(f"Targets: {sum(c['status'] == 'PASS' for c in checks)} PASS, "
                 f"{len(missed)} MISS, {sum(c['status'] == 'n/a' for c in checks)} n/a.")
    for c in missed:
        lines.append(f"- MISS {c['case']} / {c['metric']}: {c['measured']:.3g} (target "
                     f"{c['label']})")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "![ratios vs targets](latest.png)", ""]
    return "\n".join(lines)


def plot(rows, checks, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    bars = []  # (label, median, q1, q3, bound or None)
    for r in rows:
        if r["base"] != "chainrule":
            continue
        for p, v in r["ratio"].items():
            bound = next((t["bound"] for t in r["targets"] if t["peer"] == p), None)
            bars.append((f"{r['case']}: {r['metric']} vs {LABEL[p]}", v["median"], v["q1"],
                         v["q3"], bound))
    if not bars:
        return "nothing to plot"
    fig, ax = plt.subplots(figsize=(12, 0.32 * len(bars) + 1.5))
    ys = list(range(len(bars)))[::-1]
    colors = ["#8d99ae" if b is None else "#2a9d8f" if v <= b else "#e76f51"
              for _, v, _, _, b in bars]
    ax.barh(ys, [v for _, v, _, _, _ in bars], color=colors,
            xerr=[[v - lo for _, v, lo, _, _ in bars], [hi - v for _, v, _, hi, _ in bars]],
            error_kw={"lw": 0.8, "capsize": 2})
    for y, (_, v, _, _, b) in zip(ys, bars):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
        if b is not None:
            ax.plot([b, b], [y - 0.4, y + 0.4], color="black", lw=2)
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_yticks(ys, [lbl for lbl, *_ in bars], fontsize=7)
    ax.set_xlabel("time ratio chainrule / peer, median of within-round ratios with "
                  "interquartile range (lower is better; black tick = target)", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return None
