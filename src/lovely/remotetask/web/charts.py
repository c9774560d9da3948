"""The activity chart, drawn on the server as SVG: no script, no CDN.

Jobs completed and failed per minute over the last hour, as stacked bars,
one per minute; each bar has a title (a browser's tooltip, and what a
screen reader reads).  The dashboard's stylesheet colours it by class.
"""
import html
import math

from lovely.remotetask.serialize import formatTime

WIDTH, HEIGHT = 720, 150
#: Room for the axis labels: left, bottom, top.
LEFT, BOTTOM, TOP = 36, 18, 8
#: The series drawn, bottom first: (status, class, label).
SERIES = (('completed', 'completed', 'completed'),
          ('error', 'failed', 'failed'))


def niceMaximum(value: int) -> int:
    """The top of the scale: 1, 2 or 5 times a power of ten, at least
    `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power   # pragma: no cover


def activityChart(minutes: list) -> str:
    """SVG markup for `overview.activity`'s minutes."""
    top = niceMaximum(max((sum(m[s] for s, _, _ in SERIES)
                           for m in minutes), default=0))
    plotWidth, plotHeight = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plotWidth / max(1, len(minutes))
    parts = [
        f'<svg class="chart" id="activity-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="activity-title">',
        '<title id="activity-title">Jobs completed and failed per minute, '
        'last hour (UTC)</title>',
        _line(LEFT, TOP, WIDTH, TOP, 'grid'),
        _line(LEFT, TOP + plotHeight, WIDTH, TOP + plotHeight, 'axis'),
        _text(LEFT - 4, TOP + 4, top, 'end'),
        _text(LEFT - 4, TOP + plotHeight, 0, 'end'),
    ]
    for index, minute in enumerate(minutes):
        x = LEFT + index * slot
        base = TOP + plotHeight
        label = formatTime(minute['start'])[11:16]
        counts = ', '.join(f'{minute[status]} {name}'
                           for status, _, name in SERIES)
        parts.append(f'<g class="minute" data-start="{minute["start"]:.0f}">'
                     f'<title>{html.escape(label)} UTC: {counts}</title>')
        for status, css, _ in SERIES:
            height = minute[status] / top * plotHeight
            if height:
                base -= height
                parts.append(
                    f'<rect class="{css}" x="{x + 1:.1f}" y="{base:.1f}" '
                    f'width="{max(1.0, slot - 2):.1f}" '
                    f'height="{height:.1f}"/>')
        parts.append('</g>')
        if index % 15 == 0:
            parts.append(_text(x, HEIGHT - 4, label, 'start'))
        elif index == len(minutes) - 1:
            parts.append(_text(x + slot, HEIGHT - 4, label, 'end'))
    parts.append('</svg>')
    return ''.join(parts)


def _line(x1, y1, x2, y2, css):
    return (f'<line class="{css}" x1="{x1}" y1="{y1}" x2="{x2}" '
            f'y2="{y2}"/>')


def _text(x, y, value, anchor):
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
            f'{html.escape(str(value))}</text>')
