"""Hand-built inline SVG charts: no JavaScript, no fonts to embed, a few kB each.

Every chart is an `<svg class="chart" data-chart=...>` element with a `<title>` for screen
readers, so the report stays one offline file and tests can find each chart in the DOM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

FONT = 'font-family="system-ui, sans-serif"'
PALETTE = [
    "#1f4e8c",
    "#e07b39",
    "#3a9d5d",
    "#c0392b",
    "#8e6bbf",
    "#8c6d31",
    "#d45d9e",
    "#5f6b7a",
    "#b5a52a",
    "#2aa1b5",
]
LOW = (241, 245, 251)
HIGH = (31, 78, 140)


def color_for(index: int) -> str:
    """A stable categorical colour for the n-th series or segment."""
    return PALETTE[index % len(PALETTE)]


def scale_color(ratio: float | None) -> str:
    """Sequential light-to-dark blue for a ratio in [0, 1]; grey for missing cells."""
    if ratio is None or math.isnan(ratio):
        return "#eeeeee"
    r = min(max(ratio, 0.0), 1.0)
    rgb = [round(lo + (hi - lo) * r) for lo, hi in zip(LOW, HIGH, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _text_color(ratio: float | None) -> str:
    """White text on dark cells, dark text on light ones, for contrast."""
    return "#ffffff" if ratio is not None and not math.isnan(ratio) and ratio > 0.55 else "#1b1b1b"


def _open(name: str, width: float, height: float, title: str) -> list[str]:
    """Opening tag and accessible title of a chart."""
    return [
        f'<svg class="chart" data-chart="{escape(name)}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
    ]


def _txt(x: float, y: float, text: str, anchor: str = "start", **attrs: str) -> str:
    """One `<text>` element (escaped)."""
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def hbar_chart(
    name: str,
    title: str,
    items: Sequence[tuple[str, float, str]],
    color: str = PALETTE[0],
    width: int = 520,
) -> str:
    """Horizontal bars: one (label, value, value text) per row, scaled to the largest value."""
    label_w, value_w, row_h, top = 170, 150, 24, 8
    height = top * 2 + row_h * max(len(items), 1)
    bar_w = width - label_w - value_w
    vmax = max((v for _, v, _ in items), default=0) or 1.0
    out = _open(name, width, height, title)
    for i, (label, value, text) in enumerate(items):
        y = top + i * row_h
        w = max(bar_w * (value / vmax), 1.0) if value > 0 else 0.0
        out.append(_txt(label_w - 8, y + 16, label, "end"))
        out.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        out.append(_txt(label_w + w + 6, y + 16, text))
    out.append("</svg>")
    return "".join(out)


def heatmap(
    name: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    ratio: Callable[[str, str], float | None],
    cell_text: Callable[[str, str], Sequence[str]],
    x_label: str,
    y_label: str,
    cell_w: int = 64,
    cell_h: int = 40,
    label_w: int = 120,
    rotate_cols: bool = False,
) -> str:
    """A grid of coloured cells: colour from `ratio(row, col)` in [0, 1], up to two text lines.

    `rotate_cols` slants the column labels so long names (segment labels) do not overlap.
    """
    top, left = (120 if rotate_cols else 40), label_w + 22
    width = left + cell_w * max(len(cols), 1) + 10
    height = top + cell_h * max(len(rows), 1) + 12
    out = _open(name, width, height, title)
    out.append(_txt(left + cell_w * len(cols) / 2, 14, x_label, "middle", font_weight="bold"))
    out.append(
        f'<text x="10" y="{top + cell_h * len(rows) / 2:.1f}" text-anchor="middle" '
        f'font-weight="bold" transform="rotate(-90 10 {top + cell_h * len(rows) / 2:.1f})">'
        f"{escape(y_label)}</text>"
    )
    for j, col in enumerate(cols):
        cx = left + j * cell_w + cell_w / 2
        if rotate_cols:
            out.append(
                f'<text x="{cx:.1f}" y="{top - 8}" text-anchor="start" '
                f'transform="rotate(-40 {cx:.1f} {top - 8})">{escape(col)}</text>'
            )
        else:
            out.append(_txt(cx, top - 8, col, "middle"))
    for i, row in enumerate(rows):
        y = top + i * cell_h
        out.append(_txt(left - 6, y + cell_h / 2 + 4, row, "end"))
        for j, col in enumerate(cols):
            x = left + j * cell_w
            r = ratio(row, col)
            lines = [line for line in cell_text(row, col) if line]
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{scale_color(r)}"><title>{escape(row)} / {escape(col)}: '
                f"{escape(' · '.join(lines))}</title></rect>"
            )
            fill = _text_color(r)
            if len(lines) == 1:
                out.append(
                    _txt(x + cell_w / 2 - 1, y + cell_h / 2 + 3, lines[0], "middle", fill=fill)
                )
            elif lines:
                out.append(
                    _txt(
                        x + cell_w / 2 - 1,
                        y + cell_h / 2 - 3,
                        lines[0],
                        "middle",
                        fill=fill,
                        font_weight="bold",
                    )
                )
                out.append(
                    _txt(
                        x + cell_w / 2 - 1,
                        y + cell_h / 2 + 11,
                        lines[1],
                        "middle",
                        fill=fill,
                        font_size="10",
                    )
                )
    out.append("</svg>")
    return "".join(out)


def grouped_bars(
    name: str,
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    width: int = 520,
    height: int = 240,
) -> str:
    """Vertical bars per group (e.g. CLV at 3/6/12 months), one colour per series, with legend."""
    left, right, top, bottom = 20, 10, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vals in series for v in vals if v is not None]
    vmax = max(values, default=0) or 1.0
    out = _open(name, width, height, title)
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for s, (label, _) in enumerate(series):
        lx = left + s * 150
        out.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{color_for(s)}"/>')
        out.append(_txt(lx + 16, 16, label))
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#888"/>')
    for g, group in enumerate(groups):
        gx = left + g * group_w + group_w * 0.1
        for s, (label, vals) in enumerate(series):
            value = vals[g] if g < len(vals) else None
            if value is None:
                continue
            h = plot_h * max(value, 0) / vmax
            x = gx + s * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 3:.1f}" height="{h:.1f}" '
                f'fill="{color_for(s)}"><title>{escape(label)} · {escape(group)}: '
                f"{escape(fmt(value))}</title></rect>"
            )
            out.append(
                _txt(x + (bar_w - 3) / 2, base - h - 4, fmt(value), "middle", font_size="10")
            )
        out.append(_txt(left + g * group_w + group_w / 2, base + 16, group, "middle"))
    out.append("</svg>")
    return "".join(out)


def sparkline(
    name: str, title: str, values: Sequence[float | None], width: int = 110, height: int = 26
) -> str:
    """A tiny trend line over past refreshes; one point is drawn as a dot."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    out = _open(name, width, height, title)
    if not pts:
        out.append(
            f'<line x1="2" y1="{height / 2}" x2="{width - 2}" y2="{height / 2}" '
            'stroke="#ccc" stroke-dasharray="3 3"/>'
        )
        out.append("</svg>")
        return "".join(out)
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = 4 + (width - 8) * (i / n if len(values) > 1 else 0.5)
        y = height - 4 - (height - 8) * ((v - lo) / span if hi > lo else 0.5)
        return x, y

    coords = [xy(i, v) for i, v in pts]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>'
        )
    x, y = coords[-1]
    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{PALETTE[1]}"/>')
    out.append("</svg>")
    return "".join(out)


def bubble_chart(
    name: str,
    title: str,
    points: Sequence[Mapping[str, object]],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 380,
) -> str:
    """Bubbles at (x, y) with area proportional to `size` and a trend `color`; labelled.

    Each point is a mapping with keys label, x, y, size (floats) and color.
    """
    left, right, top, bottom = 56, 20, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [float(p["x"]) for p in points] or [0.0]
    ys = [float(p["y"]) for p in points] or [0.0]
    sizes = [float(p["size"]) for p in points] or [0.0]
    xmax, ymax, smax = max(xs) * 1.1 or 1.0, max(ys) * 1.15 or 1.0, max(sizes) or 1.0
    out = _open(name, width, height, title)
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#888"/>')
    out.append(_txt(left + plot_w / 2, height - 8, x_label, "middle"))
    out.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    # Largest bubbles first so small ones stay visible on top.
    for p in sorted(points, key=lambda q: -float(q["size"])):
        cx = left + plot_w * float(p["x"]) / xmax
        cy = base - plot_h * float(p["y"]) / ymax
        r = 6 + 34 * math.sqrt(max(float(p["size"]), 0.0) / smax)
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{escape(str(p["color"]))}" '
            f'fill-opacity="0.55" stroke="#333" stroke-width="0.5">'
            f"<title>{escape(str(p['label']))}</title></circle>"
        )
        out.append(_txt(cx, cy + 4, str(p["label"]), "middle", font_size="11"))
    out.append("</svg>")
    return "".join(out)
