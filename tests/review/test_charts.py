"""SVG charts: well-formed, self-contained, every label escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from moderation.console.charts import bar_chart_svg, confusion_matrix_svg, line_chart_svg

NS = {"s": "http://www.w3.org/2000/svg"}
EVIL = '<script>alert("x")</script>&'


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert not root.findall(".//s:script", NS) and "href" not in svg  # no scripts, no assets
    return [t.text or "" for t in root.iter() if t.tag.endswith(("text", "title"))]


def test_bar_chart_draws_one_bar_per_value_and_escapes_labels() -> None:
    svg = bar_chart_svg({"O1": 0.25, EVIL: 1.5, "none": 0.0}, title=EVIL)
    texts = _texts(svg)
    assert EVIL in texts and "0.25" in texts and "<script>" not in svg
    bars = [r for r in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect")]
    widths = [float(r.get("width", 0)) for r in bars[1::2]]  # value bars follow their tracks
    track = float(bars[0].get("width", 0))
    assert widths == [track * 0.25, track, 0.0]  # clamped to the axis


def test_line_chart_breaks_on_missing_days_and_escapes_labels() -> None:
    svg = line_chart_svg([("11-01", 0.5), ("11-02", 0.75), (EVIL, None), ("11-04", 1.0)])
    assert EVIL in _texts(svg)
    lines = ET.fromstring(svg).findall(".//s:polyline", NS)
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2
    assert len(ET.fromstring(svg).findall(".//s:circle", NS)) == 3
    assert ET.fromstring(line_chart_svg([])) is not None


def test_confusion_matrix_shows_counts_and_escaped_labels() -> None:
    svg = confusion_matrix_svg([[3, 0], [1, 4]], ["O1", EVIL], row_title="model")
    texts = _texts(svg)
    assert texts.count(EVIL) == 2 and {"3", "0", "1", "4", "model", "reviewer"} <= set(texts)
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_svg([[1, 2]], ["a", "b"])
