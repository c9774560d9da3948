"""Starting services when the application opens its database.

A directive names a site and a service, ``site@service``: ``@Svc`` is a
service of the application root, ``site1@*`` every service of site1,
``*@Svc`` every service called Svc, ``*@*`` all of them; a site may be a
path (``a.b@Svc``), and a service path (``site1.Svc``) is a directive too
(see `lovely.remotetask.hosts.locate`).  Directives come as a comma-separated
string: from the caller; else from Zope's ``zope.conf``::

    <product-config lovely.remotetask>
      autostart site1@TestTaskService1, @RootTaskService
    </product-config>

else from the environment variable ``REMOTETASK_AUTOSTART``.
"""
import logging
import os
import sys
from typing import Iterable, List, Optional, Union

import transaction

from lovely.remotetask import paths
from lovely.remotetask.hosts import containers, locate
from lovely.remotetask.exceptions import InvalidArgumentError, RemoteTaskError
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY

log = logging.getLogger('lovely.remotetask')

ENVIRONMENT_VARIABLE = 'REMOTETASK_AUTOSTART'
#: The section of zope.conf: ``<product-config lovely.remotetask>``.
PRODUCT = 'lovely.remotetask'


def parseDirectives(directives: Union[str, Iterable[str]]) -> List[str]:
    """Split a comma-separated string into stripped directives."""
    if isinstance(directives, str):
        directives = directives.split(',')
    return [directive.strip() for directive in directives]


def productConfiguration() -> Optional[dict]:
    """The ``<product-config lovely.remotetask>`` section of the running
    Zope (or of zope.app.appsetup, as the seed read it), or None."""
    try:
        from App.config import getConfiguration
    except ImportError:
        pass
    else:
        sections = getattr(getConfiguration(), 'product_config', None) or {}
        if sections.get(PRODUCT) is not None:
            return sections[PRODUCT]
    try:
        from zope.app.appsetup.product import getProductConfiguration
    except ImportError:
        return None
    return getProductConfiguration(PRODUCT)


def getAutostartServiceNames() -> List[str]:
    """The directives of the product configuration's ``autostart`` key,
    else of ``REMOTETASK_AUTOSTART``; [] when neither names any."""
    config = productConfiguration() or {}
    text = config.get('autostart')
    if text is None:
        text = os.environ.get(ENVIRONMENT_VARIABLE, '')
    return [d for d in parseDirectives(text) if d] if text.strip() else []


def bootstrap(db, directives: Union[str, Iterable[str], None] = None,
              rootKey: str = APPLICATION_ROOT_KEY, factory=None,
              **arguments) -> List[str]:
    """Start the services that `directives` name and that are not running.

    Return the paths of the services started.  Errors are logged, never
    raised: one bad directive must not keep the others from starting.
    Without `directives`, `getAutostartServiceNames` says which.
    `factory` and `arguments` override the services' processor settings.
    """
    if directives is None:
        directives = getAutostartServiceNames()
        if not directives:
            return []
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    started = []
    try:
        root = locate.applicationRoot(connection, rootKey)
        for directive in parseDirectives(directives):
            started.extend(_startDirective(
                root, directive, factory, arguments))
    finally:
        tm.abort()
        connection.close()
    return started


def bootstrapSubscriber(event) -> None:
    """Run `bootstrap` with the configured directives when a host fires
    ``zope.processlifetime.IDatabaseOpenedWithRoot`` (Zope does, and
    ``configure.zcml`` subscribes this); not in a script of Zope's
    console (``zconsole run``, ``zconsole debug``), which opens the
    database as the server does, but only to do its work and leave."""
    if inZopeConsole():
        log.info('autostart skipped: this is a zconsole script, not the '
                 'server')
        return
    bootstrap(event.database)


def inZopeConsole() -> bool:
    """Whether this process is a Zope console (its module is loaded only
    by the ``zconsole`` command)."""
    return 'Zope2.utilities.zconsole' in sys.modules


#: The seed's names.
bootStrapSubscriber = bootstrapSubscriber


def listServices(db, rootKey: str = APPLICATION_ROOT_KEY) -> List[str]:
    """The paths of the services a ``*@*`` directive finds."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        return [entry.path for entry in locate.listServices(
            locate.applicationRoot(connection, rootKey))]
    finally:
        tm.abort()
        connection.close()


def _startDirective(root, directive: str, factory, arguments) -> List[str]:
    try:
        siteNames, serviceName = paths.parseDirective(directive)
    except InvalidArgumentError as error:
        log.error('%s', error)
        return []
    wildcard = siteNames is None or serviceName == '*'
    started = []
    selected = list(locate.sites(root, siteNames))
    if not selected and siteNames is not None:
        log.error('site %s not found', paths.joinPath(siteNames))
    for label, names, site in selected:
        found = False
        for name, below, service in locate.services(site, serviceName):
            found = True
            entry = locate.entryFor(root, names, name, below, service)
            if service.isProcessing():
                continue
            try:
                service.startProcessing(factory, **arguments)
            except RemoteTaskError as error:
                log.error('service %s on site %s could not start: %s',
                          name, label, error)
                continue
            log.info('service %s on site %s started', name, label)
            started.append(entry.path)
        if not found and not wildcard:
            other = containers.child(site, serviceName)
            if other is not None and containers.isContainer(other):
                log.error('%s on site %s is no service but a site: %s@* '
                          'names its services', serviceName, label,
                          paths.joinPath(names + [serviceName]))
            else:
                log.error('service %s on site %s not found', serviceName,
                          label)
    if not started and wildcard:
        log.warning('no services started by directive %s', directive)
    return started
