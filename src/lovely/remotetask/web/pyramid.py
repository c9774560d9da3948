"""The Web service in a Pyramid application:
``config.include('lovely.remotetask.web.pyramid')``, after
``lovely.remotetask.hosts.pyramid``.  Settings:

``remotetask.mount``
    the path prefix (``/remotetask``) to serve the Web service at: JSON
    API, XML-RPC and dashboard; nothing is mounted without it.
``remotetask.credentials``
    a file of ``manage TOKEN`` / ``read TOKEN`` lines (default:
    ``REMOTETASK_MANAGE_TOKEN`` and ``REMOTETASK_READ_TOKEN``).
``remotetask.root_key``, ``remotetask.dbname``
    as for ``lovely.remotetask.hosts.pyramid``.
"""
from typing import Optional

from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.hosts.pyramid import PREFIX, getDatabase


def includeme(config) -> None:
    settings = config.get_settings()
    mount = settings.get(PREFIX + 'mount', '').strip()
    if mount:
        db = getDatabase(config.registry, settings.get(PREFIX + 'dbname', ''))
        mountWebService(config, db, mount,
                        settings.get(PREFIX + 'root_key',
                                     APPLICATION_ROOT_KEY),
                        settings.get(PREFIX + 'credentials') or None)


def mountWebService(config, db, prefix: str,
                    rootKey: str = APPLICATION_ROOT_KEY,
                    credentials: Optional[str] = None) -> None:
    """Serve the Web service of `db` below `prefix` (``/remotetask``)."""
    from pyramid.wsgi import wsgiapp2

    from lovely.remotetask.web import makeApp
    from lovely.remotetask.web.auth import Credentials

    tokens = (Credentials.fromFile(credentials) if credentials
              else Credentials.fromEnvironment())
    view = wsgiapp2(makeApp(db, credentials=tokens, rootKey=rootKey))
    prefix = '/' + prefix.strip('/')
    config.add_route('remotetask', prefix)
    config.add_route('remotetask-below', prefix + '/*subpath')
    config.add_view(view, route_name='remotetask')
    config.add_view(view, route_name='remotetask-below')
