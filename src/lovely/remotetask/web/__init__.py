"""The Web service of lovely.remotetask: JSON API, XML-RPC and dashboard.

``makeApp(db, credentials=...)`` is a WSGI application for the task
services of a ZODB database; ``remotetask serve`` serves it with waitress,
set up by ``createServer``.

The modules, none importing back into one that imports it:

- `app` takes a request through: `routing` finds its handler, `access`
  (with `auth`) lets it in, `context` is what the handler works with, and
  `errors` is the answer when it fails; `parsing` and `schedules` read
  the values a request sends.
- `api` (described by `openapi`), `xmlrpc` and `dashboard` are the three
  faces; they share `actions` (work in batches) and `overview` (figures).
- The dashboard's pages: `servicepage`, `jobpage`, `forms`,
  `serviceactions` and `login`, with `pagestate`, `rendering`, `charts`
  and `detail`.
- `serving`, `settings` and `demo` are for ``remotetask serve``.

The names below are imported when first used, so that ``web.settings``
(the defaults the command line shares) loads without the Web stack.
"""
import importlib

_EXPORTS = {
    'Application': 'app', 'makeApp': 'app',
    'Credentials': 'auth', 'MANAGE': 'auth', 'READ': 'auth',
    'HTML': 'detail', 'IJobDetail': 'detail', 'provideDetail': 'detail',
    'createServer': 'serving',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{__name__}.{module}'), name)
