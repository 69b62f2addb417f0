"""Bar charts drawn on the server as SVG (no script): each row a label above its bar, the
bar's segments (manufacture, use), a whisker for the range, the value in words after it; an
unknown figure is written, not drawn. 320 units wide, so they read at 360 px."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

WIDTH, BAR, ROW, LINE = 320.0, 14.0, 40.0, 14.0
CHARACTERS = 44  # a line of 12 px text in 320 units
COLOURS = ("#2f6f4f", "#9bc7a8", "#6b4f9b")  # manufacture, use, other: dark, light, violet


@dataclass
class Bar:
    label: str
    segments: list[float] = field(default_factory=list)  # drawn one after the other
    low: float | None = None
    high: float | None = None
    said: str = ""  # the value in words, written after the bar (or alone: unknown)
    known: bool = True


def _scale(bars: list[Bar]) -> float:
    top = max([b.high or sum(b.segments) for b in bars if b.known] + [0.0])
    return (WIDTH - 8) / top if top > 0 else 0.0


def wrapped(text: str, width: int = CHARACTERS) -> list[str]:
    """The text in lines of at most `width` characters, cut between words."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _row(bar: Bar, y: float, scale: float) -> list[str]:
    parts = []
    for line in wrapped(bar.label):
        parts.append(f'<text x="0" y="{y + 11:.0f}" class="chart-label">{escape(line)}</text>')
        y += LINE
    y_bar = y + 2
    if not bar.known:
        parts.append(
            f'<text x="0" y="{y_bar + 11:.0f}" class="chart-unknown">{escape(bar.said)}</text>'
        )
        return parts
    x = 0.0
    for index, value in enumerate(bar.segments):
        width = max(value * scale, 0.0)
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y_bar:.0f}" width="{width:.1f}" height="{BAR:.0f}" fill="{colour}"/>'
        )
        x += width
    if bar.low is not None and bar.high is not None and bar.high > bar.low:
        low, high, mid = bar.low * scale, bar.high * scale, y_bar + BAR / 2
        parts.append(f'<path d="M{low:.1f} {mid:.1f}H{high:.1f}M{low:.1f} {mid - 5:.1f}V{mid + 5:.1f}'
                     f'M{high:.1f} {mid - 5:.1f}V{mid + 5:.1f}" stroke="#1a1a1a" stroke-width="1.5"/>')  # fmt: skip
    return parts


def chart(title: str, bars: list[Bar], legend: tuple[str, ...] = ()) -> Markup:
    """An SVG image; its title is read by screen readers, the values are in the page's table."""
    scale = _scale(bars)
    body: list[str] = []
    y = 0.0
    if legend:
        x = 0.0
        for index, name in enumerate(legend):
            body.append(f'<rect x="{x:.0f}" y="2" width="10" height="10" fill="{COLOURS[index]}"/>')
            body.append(f'<text x="{x + 14:.0f}" y="11" class="chart-label">{escape(name)}</text>')
            x += 14 + 7 * len(name) + 12
        y = 20.0
    for bar in bars:
        body += _row(bar, y, scale)
        y += LINE * (len(wrapped(bar.label)) - 1)  # the label's lines after its first
        if bar.known and bar.said:
            body.append(
                f'<text x="0" y="{y + 16 + BAR + 11:.0f}" class="chart-value">{escape(bar.said)}</text>'
            )
        y += ROW + (12 if bar.known and bar.said else 0)
    height = max(y, 20.0)
    return Markup(  # noqa: S704 (every text inside is escaped above)
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH:.0f} {height:.0f}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
        + "".join(body) + "</svg>"
    )  # fmt: skip
