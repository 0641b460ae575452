"""Server-side SVG charts for the review console: score bars, agreement over time, confusion
matrix. Pure functions returning self-contained SVG (no scripts, styles or external assets);
every piece of text is XML-escaped, since labels can come from policies and model output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

_SVG_NS = "http://www.w3.org/2000/svg"
_FONT = 'font-family="sans-serif" font-size="12"'
_BAR = "#4a78c2"
_LINE = "#2f7d4f"
_AXIS = "#888888"
_TEXT = "#222222"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    head = (
        f'<svg xmlns="{_SVG_NS}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(title)}" {_FONT}>'
    )
    return "".join([head, f"<title>{_e(title)}</title>", *body, "</svg>"])


def _text(x: float, y: float, text: object, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{_TEXT}"{extra}>'
        f"{_e(text)}</text>"
    )


def bar_chart_svg(
    values: Mapping[str, float],
    *,
    title: str = "scores",
    max_value: float = 1.0,
    width: int = 420,
    bar_height: int = 18,
    label_width: int = 110,
) -> str:
    """Horizontal bars, one per label (e.g. a verdict's category probabilities), with values."""
    gap, top = 6, 8
    track = width - label_width - 60
    body = []
    for i, (label, value) in enumerate(values.items()):
        y = top + i * (bar_height + gap)
        share = min(max(value / max_value, 0.0), 1.0) if max_value > 0 else 0.0
        mid = y + bar_height / 2 + 4
        body += [
            _text(label_width - 8, mid, label, "end"),
            f'<rect x="{label_width}" y="{y}" width="{track}" height="{bar_height}" '
            f'fill="#eeeeee"/>',
            f'<rect x="{label_width}" y="{y}" width="{track * share:.1f}" '
            f'height="{bar_height}" fill="{_BAR}"><title>{_e(label)}: {value:.3f}</title></rect>',
            _text(label_width + track + 6, mid, f"{value:.2f}"),
        ]
    height = top * 2 + max(len(values), 1) * (bar_height + gap)
    return _svg(width, height, title, body)


def line_chart_svg(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str = "agreement over time",
    y_max: float = 1.0,
    width: int = 560,
    height: int = 220,
) -> str:
    """A line over labelled x positions (e.g. days) on a 0..``y_max`` axis; ``None`` values
    (no data that day) break the line."""
    left, right, top, bottom = 44, 16, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="{_AXIS}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{_AXIS}"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        body.append(_text(left - 6, top + plot_h * (1 - tick) + 4, f"{tick * y_max:.1f}", "end"))
    segment: list[str] = []
    segments = [segment]
    for i, (label, value) in enumerate(points):
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        body.append(_text(x, height - bottom + 16, label, "middle"))
        if value is None:
            segment = []
            segments.append(segment)
            continue
        y = top + plot_h * (1 - min(max(value / y_max, 0.0), 1.0))
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_LINE}">'
            f"<title>{_e(label)}: {value:.3f}</title></circle>"
        )
    body += [
        f'<polyline points="{" ".join(s)}" fill="none" stroke="{_LINE}" stroke-width="2"/>'
        for s in segments
        if len(s) > 1
    ]
    return _svg(width, height, title, body)


def _cell(x: float, y: float, size: int, count: int, peak: int, diagonal: bool) -> str:
    alpha = count / peak if peak else 0.0
    stroke = f' stroke="{_LINE}" stroke-width="2"' if diagonal else f' stroke="{_AXIS}"'
    fill = f'fill="{_BAR}" fill-opacity="{0.08 + 0.92 * alpha:.2f}"'
    ink = "#ffffff" if alpha > 0.6 else _TEXT
    return (
        f'<rect x="{x}" y="{y}" width="{size}" height="{size}" {fill}{stroke}/>'
        f'<text x="{x + size / 2:.1f}" y="{y + size / 2 + 4:.1f}" text-anchor="middle" '
        f'fill="{ink}">{count}</text>'
    )


def confusion_matrix_svg(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    title: str = "confusion matrix",
    row_title: str = "model",
    col_title: str = "reviewer",
    cell: int = 36,
) -> str:
    """Counts in a grid: rows ``row_title``'s label, columns ``col_title``'s; shade by count,
    the diagonal (agreement) outlined."""
    if len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        raise ValueError("the matrix must be square, one row and column per label")
    left, top = 90, 56
    peak = max((max(row) for row in matrix if row), default=0)
    body = [
        _text(left + cell * len(labels) / 2, 14, col_title, "middle", ' font-weight="bold"'),
        _text(12, top - 8, row_title, "start", ' font-weight="bold"'),
    ]
    for i, label in enumerate(labels):
        body.append(_text(left + i * cell + cell / 2, top - 8, label, "middle"))
        body.append(_text(left - 8, top + i * cell + cell / 2 + 4, label, "end"))
        for j, count in enumerate(matrix[i]):
            body.append(_cell(left + j * cell, top + i * cell, cell, count, peak, i == j))
    size = cell * len(labels)
    return _svg(left + size + 16, top + size + 16, title, body)
