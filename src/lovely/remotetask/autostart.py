"""Starting services when the application opens its database.

A directive names a site and a service, ``site@service``: ``@Svc`` is a
service of the application root, ``site1@*`` every service of site1,
``*@Svc`` every service called Svc, ``*@*`` all of them.  Directives come as
a comma-separated string, from the caller or the environment variable
``REMOTETASK_AUTOSTART``.
"""
import logging
import os
from typing import Iterable, List, Union

import transaction

from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.folder import APPLICATION_ROOT_KEY, Folder
from lovely.remotetask.locate import ROOT_LABEL, servicePath, services, sites

log = logging.getLogger('lovely.remotetask')

ENVIRONMENT_VARIABLE = 'REMOTETASK_AUTOSTART'


def parseDirectives(directives: Union[str, Iterable[str]]) -> List[str]:
    """Split a comma-separated string into stripped directives."""
    if isinstance(directives, str):
        directives = directives.split(',')
    return [directive.strip() for directive in directives]


def bootstrap(db, directives: Union[str, Iterable[str], None] = None,
              rootKey: str = APPLICATION_ROOT_KEY, factory=None,
              **arguments) -> List[str]:
    """Start the services that `directives` name and that are not running.

    Return the paths of the services started.  Errors are logged, never
    raised: one bad directive must not keep the others from starting.
    `factory` and `arguments` override the services' processor settings.
    """
    if directives is None:
        directives = os.environ.get(ENVIRONMENT_VARIABLE, '')
        if not directives.strip():
            return []
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    started = []
    try:
        root = connection.root().get(rootKey)
        if not isinstance(root, Folder):
            log.error('no application root at %r: no services started',
                      rootKey)
            return started
        for directive in parseDirectives(directives):
            started.extend(_startDirective(
                root, directive, factory, arguments))
    finally:
        tm.abort()
        connection.close()
    return started


def bootstrapSubscriber(event) -> None:
    """Run `bootstrap` with the environment's directives when a host fires
    ``zope.processlifetime.IDatabaseOpenedWithRoot``."""
    bootstrap(event.database)


def listServices(db, rootKey: str = APPLICATION_ROOT_KEY) -> List[str]:
    """Every service of the database, as the directive that names it."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        root = connection.root().get(rootKey)
        if not isinstance(root, Folder):
            return []
        return [f'{"" if label == ROOT_LABEL and site is root else label}'
                f'@{name}'
                for label, site in sites(root, '*')
                for name, service in services(site, '*')]
    finally:
        tm.abort()
        connection.close()


def _startDirective(root: Folder, directive: str, factory,
                    arguments) -> List[str]:
    parts = directive.split('@')
    if len(parts) != 2 or not parts[1]:
        log.error('invalid autostart directive %r: expected site@service',
                  directive)
        return []
    siteName, serviceName = parts
    wildcard = '*' in parts
    started = []
    selected = list(sites(root, siteName))
    if not selected and siteName != '*':
        log.error('site %s not found', siteName)
    for label, site in selected:
        found = False
        for name, service in services(site, serviceName):
            found = True
            if service.isProcessing():
                continue
            try:
                service.startProcessing(factory, **arguments)
            except RemoteTaskError as error:
                log.error('service %s on site %s could not start: %s',
                          name, label, error)
                continue
            log.info('service %s on site %s started', name, label)
            started.append(servicePath(service))
        if not found and not wildcard:
            log.error('service %s on site %s not found', serviceName, label)
    if not started and wildcard:
        log.warning('no services started by directive %s', directive)
    return started
