"""Serving the Web service below a prefix of another WSGI application."""
import threading
from typing import Callable


class PrefixMount:
    """Sends the requests below `prefix` to the Web service, made when
    first asked for by `makeWeb()`, and the others to the application it
    wraps."""

    def __init__(self, app, prefix: str, makeWeb: Callable) -> None:
        self.app = app
        self.prefix = '/' + prefix.strip('/')
        self._makeWeb = makeWeb
        self._web = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path != self.prefix and not path.startswith(self.prefix + '/'):
            return self.app(environ, start_response)
        with self._lock:
            if self._web is None:
                self._web = self._makeWeb()
        environ = dict(environ)
        environ['SCRIPT_NAME'] = environ.get('SCRIPT_NAME', '') + self.prefix
        environ['PATH_INFO'] = path[len(self.prefix):] or '/'
        return self._web(environ, start_response)
