"""The dashboard's 14-day chart as server-rendered SVG (no chart library, nothing from a CDN).

The reporting rate is a line on a 0–100 % scale; abnormal reports are bars on their own scale
(labelled with the count). A day nobody was in the roster yet has no rate: no dot, and the
line breaks there instead of dropping to 0 %. Only numbers and dates go into the markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.reports import DayPoint

WIDTH, HEIGHT = 340, 170
LEFT, RIGHT, TOP, BOTTOM = 30, 8, 12, 28


def svg(points: Sequence[DayPoint], *, rate_label: str, abnormal_label: str) -> str:
    n = max(len(points), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / n
    top_abnormal = max([p.abnormal for p in points] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="100%" role="img" class="chart" aria-label="{rate_label}">']
    for pct in (0, 50, 100):
        y = TOP + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{LEFT - 4}" y="{y + 3:.1f}" '
                     f'text-anchor="end" class="axis">{pct}%</text>')
    lines: list[list[str]] = [[]]
    for i, p in enumerate(points):
        x = LEFT + step * i
        height = plot_h * 0.45 * p.abnormal / top_abnormal
        if p.abnormal:
            parts.append(f'<rect x="{x + step * 0.2:.1f}" y="{TOP + plot_h - height:.1f}" '
                         f'width="{step * 0.6:.1f}" height="{height:.1f}" class="bar">'
                         f'<title>{p.day.isoformat()} {abnormal_label} {p.abnormal}</title>'
                         f'</rect><text x="{x + step / 2:.1f}" '
                         f'y="{TOP + plot_h - height - 2:.1f}" text-anchor="middle" '
                         f'class="count">{p.abnormal}</text>')
        cx, cy = x + step / 2, TOP + plot_h * (1 - p.rate)
        if not p.members:
            if lines[-1]:
                lines.append([])  # a gap: nobody to report that day
        else:
            lines[-1].append(f"{cx:.1f},{cy:.1f}")
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" class="dot">'
                         f'<title>{p.day.isoformat()} {rate_label} {p.rate:.0%}</title>'
                         '</circle>')
        if i % 2 == (n - 1) % 2:
            parts.append(f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                         f'class="axis">{p.day:%m-%d}</text>')
    for line in reversed([run for run in lines if run]):
        parts.insert(1, f'<polyline points="{" ".join(line)}" class="rate"/>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" class="legend rate-legend">— '
                 f'{rate_label}</text><text x="{LEFT + 120}" y="{HEIGHT - 2}" '
                 f'class="legend bar-legend">■ {abnormal_label}</text></svg>')
    return "".join(parts)
