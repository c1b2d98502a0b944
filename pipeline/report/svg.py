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


def _open(name: str, width: float, height: float, title: str, empty: str = "") -> list[str]:
    """Opening tag and accessible title of a chart; `empty` says why it deliberately draws no
    data (`data-empty`), so a reader and the browser test can tell it from a broken chart."""
    marker = f' data-empty="{escape(empty)}"' if empty else ""
    return [
        f'<svg class="chart" data-chart="{escape(name)}"{marker} '
        f'viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
    ]


def _txt(x: float, y: float, text: str, anchor: str = "start", **attrs: str) -> str:
    """One `<text>` element (escaped)."""
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


#: Average glyph advance as a share of the font size, generous on purpose (DejaVu Sans, the
#: widest common fallback of system-ui): an estimate too wide only costs some white space, too
#: narrow makes labels collide.
_NARROW = set("iljtfr.,:;'|!()[] ")
_WIDE = set("mwMWÀÉ@%")


def text_width(text: str, font_size: float = 12) -> float:
    """Estimated rendered width of `text` in pixels (see the glyph advances above)."""
    units = 0.0
    for ch in text:
        if ch in _NARROW:
            units += 0.36
        elif ch in _WIDE or ch.isupper():
            units += 0.78
        else:
            units += 0.62
    return units * font_size


Box = tuple[float, float, float, float]


def text_box(x: float, y: float, text: str, anchor: str = "start", font_size: float = 12) -> Box:
    """(x0, y0, x1, y1) of a text drawn at baseline (x, y) with `anchor`."""
    width = text_width(text, font_size)
    x0 = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return (x0, y - font_size * 0.85, x0 + width, y + font_size * 0.25)


def boxes_overlap(a: Box, b: Box, pad: float = 2.0) -> bool:
    """True when two boxes come closer than `pad` pixels."""
    return not (
        a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1]
    )


def place_label(
    candidates: Sequence[tuple[float, float, str]],
    text: str,
    taken: list[Box],
    bounds: Box,
    font_size: float = 11,
) -> tuple[float, float, str, bool]:
    """The first candidate (x, y, anchor) whose box stays in `bounds` and clear of `taken`.

    Returns (x, y, anchor, clear). When none is clear, the least crowded candidate is
    returned with clear = False (the caller then draws a leader line further away).
    """
    best, best_hits = candidates[0], None
    for x, y, anchor in candidates:
        box = text_box(x, y, text, anchor, font_size)
        inside = (
            box[0] >= bounds[0]
            and box[1] >= bounds[1]
            and box[2] <= bounds[2]
            and (box[3] <= bounds[3])
        )
        hits = sum(boxes_overlap(box, other) for other in taken)
        if inside and hits == 0:
            return x, y, anchor, True
        if inside and (best_hits is None or hits < best_hits):
            best, best_hits = (x, y, anchor), hits
    return (*best, False)


def hbar_chart(
    name: str,
    title: str,
    items: Sequence[tuple[str, float, str]],
    color: str = PALETTE[0],
    width: int = 520,
) -> str:
    """Horizontal bars: one (label, value, value text) per row, scaled to the largest value."""
    row_h, top = 24, 8
    # Room for the longest label and value text, so neither is clipped nor runs into a bar.
    label_w = max(170.0, *(text_width(label) + 16 for label, _, _ in items)) if items else 170
    value_w = max(150.0, *(text_width(text) + 12 for _, _, text in items)) if items else 150
    width = max(width, int(label_w + value_w + 120))
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
    label_w = max(label_w, int(max((text_width(r) for r in rows), default=0) + 12))
    # Slanted column labels need room above the grid (and on the right for the last ones).
    slant = max((text_width(c) for c in cols), default=0) if rotate_cols else 0.0
    top = int(40 + slant * math.sin(math.radians(40))) if rotate_cols else 40
    left = label_w + 22
    width = left + cell_w * max(len(cols), 1) + 10 + int(slant * math.cos(math.radians(40)))
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
    lx = left
    for s, (label, _) in enumerate(series):
        out.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{color_for(s)}"/>')
        out.append(_txt(lx + 16, 16, label))
        lx += 16 + text_width(label) + 24
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
            # The value over its bar only when it fits the bar's width (the table has them all).
            if text_width(fmt(value), 10) <= bar_w:
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
    out = _open(name, width, height, title, empty="" if pts else "no value in any refresh")
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
    width: int = 680,
    height: int = 440,
    quadrants: Mapping[str, str] | None = None,
) -> str:
    """Bubbles at (x, y) in [0, 1] x [0, 1], area proportional to `size`, filled with `color`.

    Each point is a mapping with keys label, x, y, size and color. With `quadrants` (keys
    top_right, top_left, bottom_right, bottom_left), dashed lines split the plot at 0.5 and the
    corners are named. Labels never overlap: each goes inside its bubble, else above, below or
    beside it, else further out with a leader line (`place_label`).
    """
    left, right, top, bottom = 60, 24, 30, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    sizes = [float(p["size"]) for p in points] or [0.0]
    smax = max(sizes) or 1.0
    r_max = 35.0
    base = top + plot_h
    out = _open(name, width, height, title)
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#888"/>')
    taken: list[Box] = []

    def fixed(x: float, y: float, text: str, anchor: str, **attrs: str) -> None:
        out.append(_txt(x, y, text, anchor, **attrs))
        taken.append(text_box(x, y, text, anchor, float(attrs.get("font_size", 12))))

    # Values 0..1 map inside the axes with a margin of the largest radius: no bubble is cut.
    def sx(value: float) -> float:
        return left + r_max + (plot_w - 2 * r_max) * min(max(value, 0.0), 1.0)

    def sy(value: float) -> float:
        return base - r_max - (plot_h - 2 * r_max) * min(max(value, 0.0), 1.0)

    fixed(left + plot_w / 2, height - 10, x_label, "middle")
    # The vertical axis title is rotated: its box is tall and narrow.
    y_mid = top + plot_h / 2
    out.append(
        f'<text x="16" y="{y_mid:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {y_mid:.1f})">{escape(y_label)}</text>'
    )
    y_half = text_width(y_label) / 2
    taken.append((4.0, y_mid - y_half, 20.0, y_mid + y_half))
    for tick in (0.0, 0.5, 1.0):
        fixed(sx(tick), base + 16, f"{tick:g}", "middle", font_size="10")
        fixed(left - 6, sy(tick) + 4, f"{tick:g}", "end", font_size="10")
    if quadrants:
        mid_x, mid_y = sx(0.5), sy(0.5)
        out.append(
            f'<line x1="{mid_x:.1f}" y1="{top}" x2="{mid_x:.1f}" y2="{base}" stroke="#bbb" '
            'stroke-dasharray="4 4"/>'
        )
        out.append(
            f'<line x1="{left}" y1="{mid_y:.1f}" x2="{left + plot_w}" y2="{mid_y:.1f}" '
            'stroke="#bbb" stroke-dasharray="4 4"/>'
        )
        # Quadrant names sit outside the plot (above it and on the axis title's line), arrows
        # pointing to their corner, so no bubble ever hides them.
        for key, (x, y, anchor, arrow) in {
            "top_left": (left + 4, top - 10, "start", "↖ "),
            "top_right": (left + plot_w - 4, top - 10, "end", " ↗"),
            "bottom_left": (left + 4, height - 10, "start", "↙ "),
            "bottom_right": (left + plot_w - 4, height - 10, "end", " ↘"),
        }.items():
            if key in quadrants:
                text = (
                    f"{arrow}{quadrants[key]}" if anchor == "start" else f"{quadrants[key]}{arrow}"
                )
                fixed(x, y, text, anchor, font_weight="bold", fill="#5f6b7a")
    bubbles = []
    # Largest bubbles first so small ones stay visible on top.
    for p in sorted(points, key=lambda q: -float(q["size"])):
        cx, cy = sx(float(p["x"])), sy(float(p["y"]))
        r = 5 + (r_max - 5) * math.sqrt(max(float(p["size"]), 0.0) / smax)
        bubbles.append((cx, cy, r, str(p["label"])))
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{escape(str(p["color"]))}" '
            f'fill-opacity="0.55" stroke="#333" stroke-width="0.5">'
            f"<title>{escape(str(p['label']))}</title></circle>"
        )
    bounds = (2.0, 2.0, width - 2.0, height - 2.0)
    for cx, cy, r, label in bubbles:
        inside = [(cx, cy + 4, "middle")] if text_width(label, 11) <= 2 * r - 4 else []
        near = [
            (cx, cy - r - 4, "middle"),
            (cx, cy + r + 12, "middle"),
            (cx + r + 4, cy + 4, "start"),
            (cx - r - 4, cy + 4, "end"),
        ]
        far = [
            (cx + dx, cy + dy, anchor)
            for step in range(1, 12)
            for dx, dy, anchor in (
                (0, -r - 4 - 13 * step, "middle"),
                (0, r + 12 + 13 * step, "middle"),
                (r + 12 + 10 * step, 4 - 13 * step, "start"),
                (-r - 12 - 10 * step, 4 - 13 * step, "end"),
                (r + 12 + 10 * step, 4 + 13 * step, "start"),
                (-r - 12 - 10 * step, 4 + 13 * step, "end"),
            )
        ]
        x, y, anchor, _ = place_label([*inside, *near, *far], label, taken, bounds)
        if (x, y, anchor) not in inside + near:
            # Displaced: a leader line ties the label to its bubble.
            out.append(
                f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y - 4:.1f}" '
                'stroke="#777" stroke-width="0.6"/>'
            )
        out.append(_txt(x, y, label, anchor, font_size="11"))
        taken.append(text_box(x, y, label, anchor, 11))
    out.append("</svg>")
    return "".join(out)
