"""The activity charts, drawn on the server as SVG: no script, no CDN.

Jobs completed and failed per minute over the last hour, and per hour
over the last day or week (of one task, or of all), as stacked bars, one
per minute or hour; each bar has a title (a browser's tooltip, and what a
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
    return barChart(minutes, 'activity', 'Jobs completed and failed per '
                    'minute, last hour (UTC)', every=15, slotClass='minute',
                    label=lambda start: formatTime(start)[11:16])


def historyChart(hours: list, task=None) -> str:
    """SVG markup for `overview.activityByHour`'s hours (of `task`)."""
    days = len(hours) > 24
    title = (f'Jobs of task {task}' if task else 'Jobs') + \
        ' completed and failed per hour, last ' + \
        (f'{len(hours) // 24} days' if days else f'{len(hours)} hours') + \
        ' (UTC)'
    return barChart(hours, 'history', title, every=24 if days else 6,
                    slotClass='hour', label=lambda start: formatTime(start)[
                        5 if days else 11:16])


def barChart(slots: list, name: str, title: str, every: int,
             slotClass: str, label) -> str:
    """Stacked bars of SERIES, one per slot (a dict of its start and a
    count per status), with a label under every `every`-th."""
    top = niceMaximum(max((sum(m[s] for s, _, _ in SERIES)
                           for m in slots), default=0))
    plotWidth, plotHeight = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plotWidth / max(1, len(slots))
    parts = [
        f'<svg class="chart" id="{name}-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="{name}-title">',
        f'<title id="{name}-title">{html.escape(title)}</title>',
        _line(LEFT, TOP, WIDTH, TOP, 'grid'),
        _line(LEFT, TOP + plotHeight, WIDTH, TOP + plotHeight, 'axis'),
        _text(LEFT - 4, TOP + 4, top, 'end'),
        _text(LEFT - 4, TOP + plotHeight, 0, 'end'),
    ]
    for index, counted in enumerate(slots):
        x = LEFT + index * slot
        text = label(counted['start'])
        parts.append(_bar(counted, x, slot, top, plotHeight, text,
                          slotClass))
        if index % every == 0:
            parts.append(_text(x, HEIGHT - 4, text, 'start'))
        elif index == len(slots) - 1:
            parts.append(_text(x + slot, HEIGHT - 4, text, 'end'))
    parts.append('</svg>')
    return ''.join(parts)


def _bar(counted, x, slot, top, plotHeight, text, css) -> str:
    """One slot's group: its title and a rect per status counted."""
    counts = ', '.join(f'{counted[status]} {name}'
                       for status, _, name in SERIES)
    parts = [f'<g class="{css}" data-start="{counted["start"]:.0f}">'
             f'<title>{html.escape(text)} UTC: {counts}</title>']
    base = TOP + plotHeight
    for status, series, _ in SERIES:
        height = counted[status] / top * plotHeight
        if height:
            base -= height
            parts.append(
                f'<rect class="{series}" x="{x + 1:.1f}" y="{base:.1f}" '
                f'width="{max(1.0, slot - 2):.1f}" '
                f'height="{height:.1f}"/>')
    parts.append('</g>')
    return ''.join(parts)


def _line(x1, y1, x2, y2, css):
    return (f'<line class="{css}" x1="{x1}" y1="{y1}" x2="{x2}" '
            f'y2="{y2}"/>')


def _text(x, y, value, anchor):
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
            f'{html.escape(str(value))}</text>')
