"""A workflow's steps as a graph, drawn on the server as SVG: no script,
no CDN.

Steps stand in columns by depth (a step is one column right of the
deepest step it waits for), each a box with its name and status, linked
to its job's page; an arrow runs from each step to each step that waits
for it.  The dashboard's stylesheet colours the boxes by status.  Past
`MOST_STEPS` steps the page shows the table alone: a graph that large is
no longer read.
"""
import html
from typing import Callable, Dict, List

#: The most steps drawn.
MOST_STEPS = 200
#: A box, and the room around it.
BOX_WIDTH, BOX_HEIGHT, GAP_X, GAP_Y, MARGIN = 150, 40, 50, 14, 10


def depths(steps: List[dict]) -> Dict[str, int]:
    """Each step's column: 0 for a step that waits for no other step of
    the workflow, else one more than the deepest it waits for."""
    names = {step['name'] for step in steps}
    after = {step['name']: [one for one in step['after'] if one in names]
             for step in steps}
    found = dict.fromkeys(after, 0)
    # Passes until nothing moves: as many as the longest chain, and never
    # more than there are steps (stored data with a cycle ends too).
    for _ in range(len(after)):
        moved = False
        for name, before in after.items():
            depth = 1 + max((found[one] for one in before), default=-1)
            if depth > found[name]:
                found[name], moved = depth, True
        if not moved:
            break
    return found


def workflowGraph(steps: List[dict], link: Callable[[int], str]) -> str:
    """SVG markup for `getWorkflow`'s steps; `link(id)` is a step's page."""
    found = depths(steps)
    columns: Dict[int, List[dict]] = {}
    for step in steps:
        columns.setdefault(found[step['name']], []).append(step)
    places = {}
    for column, members in columns.items():
        for row, step in enumerate(members):
            places[step['name']] = (
                MARGIN + column * (BOX_WIDTH + GAP_X),
                MARGIN + row * (BOX_HEIGHT + GAP_Y))
    width = MARGIN * 2 + len(columns) * (BOX_WIDTH + GAP_X) - GAP_X
    height = MARGIN * 2 + max(len(members) for members in
                              columns.values()) * (BOX_HEIGHT + GAP_Y) - GAP_Y
    parts = [
        f'<svg class="graph" id="workflow-graph" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="graph-title">',
        '<title id="graph-title">The steps of the workflow, each after the '
        'steps it waits for</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>']
    for step in steps:
        x2, y2 = places[step['name']]
        for one in step['after']:
            if one not in places:
                continue
            x1, y1 = places[one]
            parts.append(
                f'<path class="edge" data-from="{_e(one)}" '
                f'data-to="{_e(step["name"])}" marker-end="url(#arrow)" '
                f'd="M {x1 + BOX_WIDTH} {y1 + BOX_HEIGHT / 2:g} '
                f'C {x1 + BOX_WIDTH + GAP_X / 2:g} {y1 + BOX_HEIGHT / 2:g}, '
                f'{x2 - GAP_X / 2:g} {y2 + BOX_HEIGHT / 2:g}, '
                f'{x2} {y2 + BOX_HEIGHT / 2:g}"/>')
    for step in steps:
        x, y = places[step['name']]
        status = step['status']
        parts.append(
            f'<a href="{_e(link(step["id"]))}" class="step '
            f'status-{_e(status.replace(" ", "-"))}" '
            f'id="step-{step["id"]}">'
            f'<title>{_e(step["name"])}: {_e(step["task"] or "")}, '
            f'{_e(status)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" '
            f'height="{BOX_HEIGHT}" rx="5"/>'
            f'<text x="{x + 8}" y="{y + 17}" class="name">'
            f'{_e(_cut(step["name"], 20))}</text>'
            f'<text x="{x + 8}" y="{y + 32}" class="status">{_e(status)}'
            f'</text></a>')
    parts.append('</svg>')
    return ''.join(parts)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + '\u2026'


def _e(text) -> str:
    return html.escape(str(text), quote=True)
