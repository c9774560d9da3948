"""Which handler answers a request: routes by method and path template.

The application has a few dozen routes; a short list searched in order
does, and says 405 with the methods allowed where a path has routes for
other methods only.  Each part (`api`, `xmlrpc`, `dashboard`) adds its
own with its ``register(router)``.
"""
import dataclasses
import re
from typing import Callable, Optional

from lovely.remotetask.web.errors import HTTPError


@dataclasses.dataclass
class Route:
    method: str
    template: str
    handler: Callable
    #: The right needed (`auth.READ`, `auth.MANAGE`) or None for public.
    right: Optional[str]
    #: Who renders its errors: 'api' (JSON), 'xmlrpc' or 'html'.
    kind: str
    pattern: re.Pattern = None

    def __post_init__(self):
        regex = re.sub(r'\\\{(\w+)\\\}', r'(?P<\1>[^/]+)',
                       re.escape(self.template))
        self.pattern = re.compile(f'^{regex}$')


class Router:
    """Routes by method and path template, ``/api/services/{service}``."""

    def __init__(self) -> None:
        self.routes = []

    def add(self, method, template, handler, right, kind) -> None:
        self.routes.append(Route(method, template, handler, right, kind))

    def match(self, method: str, path: str):
        """(route, params), or raise HTTPError 404 or 405."""
        matched = [(route, found) for route in self.routes
                   for found in [route.pattern.match(path)] if found]
        # A path that names a route's word (``jobs/cancel``) is that
        # route's alone, though a parameter (``jobs/{job}``) matches it too.
        least = min((route.template.count('{') for route, _ in matched),
                    default=0)
        allowed = []
        for route, found in matched:
            if route.template.count('{') != least:
                continue
            if route.method == method or (method == 'HEAD'
                                          and route.method == 'GET'):
                return route, found.groupdict()
            allowed.append(route)
        if allowed:
            raise HTTPError(
                405, f'{method} is not allowed on {path}',
                headers={'Allow': ', '.join(
                    sorted({r.method for r in allowed}))})
        raise HTTPError(404, f'nothing at {path}')

    def kindOf(self, path: str) -> str:
        """Who renders an error for a path no route matched."""
        if path.startswith('/api/') or path == '/api':
            return 'api'
        if path.startswith('/xmlrpc/'):
            return 'xmlrpc'
        return 'html'
