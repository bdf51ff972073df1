"""Server-rendered SVG charts for the dashboard: geometry here, markup in the template.

No chart library and no script: the page stays one HTML document that works under the strict
Content-Security-Policy and prints as it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.dashboard.schemas import DayShare, OutcomeGroup

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 44, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    kind: str  # CSS class: human, automation, ...
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    empty: bool = False


def _axis(chart: Chart, top: float, fmt: str) -> None:
    plot = chart.height - BOTTOM - TOP
    for i in range(5):
        value = top * i / 4
        chart.labels.append(
            Label(LEFT - 6, chart.height - BOTTOM - plot * i / 4 + 4, fmt.format(value), "end")
        )


def days_chart(days: list[DayShare]) -> Chart:
    """Tickets per day, the part sent to a person stacked at the bottom."""
    chart = Chart("Tickets per day, and how many went to a person")
    chart.legend = [("human", "sent to a person"), ("automation", "kept by automation")]
    if not days:
        chart.empty = True
        return chart
    top = max(d.tickets for d in days) or 1
    plot_w, plot_h = chart.width - LEFT - 8, chart.height - BOTTOM - TOP
    step = plot_w / len(days)
    for i, d in enumerate(days):
        x = LEFT + i * step + step * 0.15
        h_human, h_all = plot_h * d.human / top, plot_h * d.tickets / top
        base = chart.height - BOTTOM
        share = f"{d.human / d.tickets:.0%}" if d.tickets else "-"
        chart.bars.append(
            Bar(
                x,
                base - h_all,
                step * 0.7,
                h_all - h_human,
                "automation",
                f"{d.day}: {d.tickets - d.human} kept",
            )
        )
        chart.bars.append(
            Bar(x, base - h_human, step * 0.7, h_human, "human", f"{d.day}: {d.human} to a person ({share})")
        )
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            chart.labels.append(Label(x + step * 0.35, base + 16, d.day.strftime("%d %b")))
    _axis(chart, top, "{:.0f}")
    return chart


def outcome_chart(groups: list[OutcomeGroup], *, measure: str) -> Chart:
    """Sent to a person against kept by automation, per group: mean CSAT or reopen rate."""
    is_csat = measure == "csat"
    chart = Chart("Customer satisfaction (mean CSAT, 1-5)" if is_csat else "Reopened tickets (share)")
    chart.legend = [("human", "sent to a person"), ("automation", "kept by automation")]
    names = sorted({g.group for g in groups}, key=lambda n: (n != "all", n))
    values = {
        (g.route, g.group): (
            g.csat_mean if is_csat else g.reopen_rate,
            g.csat_count if is_csat else g.reopen_count,
        )
        for g in groups
    }
    if not any(v[0] is not None for v in values.values()):
        chart.empty = True
        return chart
    top = 5.0 if is_csat else max(0.05, max(v[0] or 0 for v in values.values()))
    plot_w, plot_h = chart.width - LEFT - 8, chart.height - BOTTOM - TOP
    step = plot_w / len(names)
    base = chart.height - BOTTOM
    for i, name in enumerate(names):
        for j, route in enumerate(("human", "automation")):
            value, n = values.get((route, name), (None, 0))
            if value is None:
                continue
            h = plot_h * value / top
            x = LEFT + i * step + step * (0.12 + 0.38 * j)
            shown = f"{value:.2f}" if is_csat else f"{value:.0%}"
            chart.bars.append(Bar(x, base - h, step * 0.36, h, route, f"{name}, {route}: {shown} (n={n})"))
        chart.labels.append(Label(LEFT + (i + 0.5) * step, base + 16, name.split(":")[-1]))
    _axis(chart, top, "{:.1f}" if is_csat else "{:.0%}")
    return chart
