"""Pyramid: ``config.include('lovely.remotetask.hosts.pyramid')``.

Include it after ``pyramid_zodbconn`` (whose database it uses) and, for
adding jobs in requests, ``pyramid_tm`` (a job added in a request is
committed with it, or not at all) and ``pyramid_retry`` (a request whose
commit conflicts runs again).  Settings, all optional:

``remotetask.autostart``
    directives of the services this process runs (``*@*``, ``@tasks``,
    ``site1.tasks``...), started when the application is created; none by
    default (worker processes may run them instead: ``remotetask worker``).
``remotetask.root_key``
    the key of the application's root in the database root, where service
    paths start (default ``Application``, else the database root itself).
``remotetask.dbname``
    the pyramid_zodbconn database (default its primary one).

Requests get ``request.taskService(path)``: the service at `path` in the
request's connection, for ``add()`` in the request's transaction.  The
Web service (JSON API, XML-RPC, dashboard) is the Web package's:
``config.include('lovely.remotetask.web.pyramid')``.
"""

from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError

from lovely.remotetask.hosts import autostart, locate
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY

PREFIX = 'remotetask.'


def getDatabase(registry, name: str = ''):
    """The database pyramid_zodbconn opened (`name`: one of its named
    databases); a ConfigurationError says what is missing."""
    databases = getattr(registry, '_zodb_databases', None)
    if databases is None:
        raise ConfigurationError(
            'lovely.remotetask.hosts.pyramid needs pyramid_zodbconn: '
            'config.include("pyramid_zodbconn") before it, with '
            'zodbconn.uri in the settings')
    db = databases.get(name)
    if db is None:
        raise ConfigurationError(
            f'pyramid_zodbconn has no database {name!r}: set '
            f'zodbconn.uri{"." + name if name else ""}')
    return db


def includeme(config) -> None:
    settings = config.get_settings()
    rootKey = settings.get(PREFIX + 'root_key', APPLICATION_ROOT_KEY)
    dbname = settings.get(PREFIX + 'dbname', '')
    db = getDatabase(config.registry, dbname)

    def taskService(request, path: str):
        """The service at `path`, in this request's connection."""
        from pyramid_zodbconn import get_connection
        connection = get_connection(request, dbname or None)
        entry = locate.findService(
            locate.applicationRoot(connection, rootKey), path)
        if entry is None:
            raise KeyError(f'no task service {path!r}')
        return entry.service

    config.add_request_method(taskService, 'taskService')
    directives = settings.get(PREFIX + 'autostart', '').strip()
    if directives:
        def start(event):
            autostart.bootstrap(db, directives, rootKey)
        config.add_subscriber(start, ApplicationCreated)
