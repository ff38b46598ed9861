#!/usr/bin/env python3
"""Degradation plot of bench/robustness.sh: macro-F1 per condition, one line per run, 95 %
intervals as bars, the issue's goals (0.95 clean, 0.90 degraded) dashed. Standard library
only (the bench machine has no matplotlib): writes SVG.
    python3 bench/robustness_plot.py RESULTS.tsv OUT.svg [TITLE [RUN...]]
RUNs: the runs to draw, in this order (default: every run of RESULTS.tsv)."""
import csv
import os
import html
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
W, H, LEFT, RIGHT, TOP, BOTTOM = 920, 440, 60, 190, 40, 70
Y_MIN, Y_MAX = 0.2, 1.0


def load(path):
    runs, conditions, cells = [], [], {}
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["run"] not in runs:
                runs.append(r["run"])
            if r["condition"] not in conditions:
                conditions.append(r["condition"])
            cells[r["run"], r["condition"]] = tuple(
                float(r[k]) for k in ("macro_f1", "ci_low", "ci_high"))
    return runs, conditions, cells


def main(src, out, title="RAVDESS test", *only):
    runs, conditions, cells = load(src)
    if only:
        missing = [r for r in only if r not in runs]
        if missing:
            sys.exit(f"robustness_plot.py: {src} has no rows for {', '.join(missing)}")
        runs = list(only)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    x = lambda i: LEFT + pw * (i + 0.5) / len(conditions)
    y = lambda v: TOP + ph * (Y_MAX - min(max(v, Y_MIN), Y_MAX)) / (Y_MAX - Y_MIN)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{LEFT}" y="22" font-size="14">{html.escape(title)}: escalation macro-F1 '
         'by degradation (95 % call-bootstrap intervals)</text>']
    for k in range(9):  # grid and y labels
        v = Y_MIN + k * 0.1
        s.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                 'stroke="#ddd"/>')
        s.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    for goal in (0.95, 0.90):
        s.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(goal):.1f}" y2="{y(goal):.1f}" '
                 'stroke="#555" stroke-dasharray="5,4"/>')
        s.append(f'<text x="{LEFT + pw + 4}" y="{y(goal) + 4:.1f}" fill="#555">goal '
                 f'{goal:.2f}</text>')
    for i, c in enumerate(conditions):
        s.append(f'<text x="{x(i):.1f}" y="{TOP + ph + 18}" text-anchor="middle" font-size="11">'
                 f'{html.escape(c)}</text>')
    s.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
             'stroke="#333"/>')
    for j, run in enumerate(runs):
        color, dx = COLORS[j % len(COLORS)], (j - (len(runs) - 1) / 2) * 4
        points = []
        for i, c in enumerate(conditions):
            if (run, c) not in cells:
                continue
            v, lo, hi = cells[run, c]
            px = x(i) + dx
            points.append(f"{px:.1f},{y(v):.1f}")
            s.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" '
                     f'stroke="{color}" stroke-opacity="0.6"/>')
            s.append(f'<circle cx="{px:.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
        s.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
                 'stroke-width="1.5"/>')
        ly = TOP + 130 + 18 * j  # below the goal labels
        s.append(f'<line x1="{LEFT + pw + 8}" x2="{LEFT + pw + 28}" y1="{ly}" y2="{ly}" '
                 f'stroke="{color}" stroke-width="2"/>')
        s.append(f'<text x="{LEFT + pw + 32}" y="{ly + 4}">{html.escape(run)}</text>')
    s.append(f'<text x="{LEFT + pw / 2}" y="{H - 20}" text-anchor="middle" fill="#555">values '
             f'below {Y_MIN} drawn at {Y_MIN}</text>')
    s.append("</svg>")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(s) + "\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
