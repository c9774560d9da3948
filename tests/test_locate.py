"""Finding services wherever an application keeps them, and naming them
one way: paths from the application root (or the database root), through
mappings, BTrees, zope.container folders, OFS object managers and site
managers; directives as the seed wrote them."""
import logging

import pytest
import transaction
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping
from zope.component.globalregistry import base
from zope.component.persistentregistry import PersistentComponents

import servers
from lovely import remotetask
from lovely.remotetask import naming
from lovely.remotetask.hosts import autostart, containers
from lovely.remotetask.runtime import processing
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import ITaskService
from lovely.remotetask.hosts.locate import (
    applicationRoot, findService, listServices, servicePath)


def paths(root, directives='*@*'):
    return [entry.path for entry in listServices(root, directives)]


class Site(remotetask.Folder):
    """A folder with a component registry of its own, as a site has."""

    def __init__(self):
        super().__init__()
        self.components = PersistentComponents('++etc++site')
        self.components.__bases__ = (base,)

    def getSiteManager(self):
        return self.components


def test_the_quick_start_service_in_the_database_root(db):
    connection = db.open()
    service = connection.root()['tasks'] = remotetask.TaskService()
    transaction.commit()
    # No application root: paths start at the database root.
    root = applicationRoot(connection)
    assert root is connection.root()
    assert paths(root) == ['tasks']
    assert findService(root, 'tasks').service is service
    assert findService(root, '@tasks').service is service
    assert servicePath(service) == 'tasks'
    # With one, the empty key still reaches the database root.
    connection.root()['Application'] = remotetask.Folder()
    transaction.commit()
    assert paths(applicationRoot(connection)) == []
    assert paths(applicationRoot(connection, '')) == ['tasks']
    connection.close()


def test_mappings_btrees_and_folders(db):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    app['plain'] = PersistentMapping(svc=remotetask.TaskService())
    app['tree'] = OOBTree()
    app['tree']['svc'] = remotetask.TaskService()
    app['tree']['deeper'] = PersistentMapping(
        svc=remotetask.TaskService())
    app['folder'] = remotetask.Folder()
    app['folder']['svc'] = remotetask.TaskService()
    app['top'] = remotetask.TaskService()
    transaction.commit()
    # Wildcards look at the root and its direct children, no deeper.
    assert paths(app) == ['top', 'folder.svc', 'plain.svc', 'tree.svc']
    assert paths(app, '*@svc') == ['folder.svc', 'plain.svc', 'tree.svc']
    assert paths(app, 'tree@*') == ['tree.svc']
    # Deeper ones by path, or with their site given as a path.
    deep = app['tree']['deeper']['svc']
    assert findService(app, 'tree.deeper.svc').service is deep
    assert findService(app, 'tree.deeper@svc').service is deep
    assert paths(app, 'tree.deeper@*') == ['tree.deeper.svc']
    # A mapping does not tell its items where they are; the path found
    # names the service afterwards, in this process.
    assert servicePath(deep) == 'tree.deeper.svc'
    connection.close()


def test_zope_container_folders(db):
    btree = pytest.importorskip('zope.container.btree')
    connection = db.open()
    app = connection.root()['Application'] = btree.BTreeContainer()
    app['site1'] = btree.BTreeContainer()
    app['site1']['mail'] = remotetask.TaskService()
    transaction.commit()
    assert paths(applicationRoot(connection)) == ['site1.mail']
    # zope.container sets __parent__ and __name__: the path comes from there.
    assert servicePath(app['site1']['mail']) == 'site1.mail'
    connection.close()


def test_services_registered_in_a_site_manager(db):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    site = app['site2'] = Site()
    service = remotetask.TaskService()
    site.getSiteManager().registerUtility(service, ITaskService,
                                          name='reports')
    site['stored'] = remotetask.TaskService()
    # One both stored and registered is listed once, where it is stored.
    site.getSiteManager().registerUtility(site['stored'], ITaskService,
                                          name='alias')
    transaction.commit()
    assert paths(app) == ['site2.stored', 'site2.++etc++site.reports']
    assert findService(app, 'site2@reports').service is service
    assert findService(app, 'site2.++etc++site.reports').service is service
    assert findService(app, 'site2@alias').path == 'site2.stored'
    assert paths(app, '*@reports') == ['site2.++etc++site.reports']
    assert paths(app, 'site2.++etc++site@*') == [
        'site2.++etc++site.alias', 'site2.++etc++site.reports']
    assert servicePath(service) == 'site2.++etc++site.reports'
    connection.close()


def test_the_seeds_zope_site_layout(db):
    """The seed kept a service in ``++etc++site/default`` of a zope.site
    site and registered it under another name."""
    folder = pytest.importorskip('zope.site.folder')
    from zope.site.site import LocalSiteManager
    connection = db.open()
    root = connection.root()['Application'] = folder.rootFolder()
    site1 = root['site1'] = folder.Folder()
    sm = LocalSiteManager(site1)
    site1.setSiteManager(sm)
    sm['default']['testTaskService1'] = remotetask.TaskService()
    # zope.container keeps what is not IContained in a ContainedProxy,
    # which the seed registered ("caution! proxy").
    service = sm['default']['testTaskService1']
    sm.registerUtility(service, ITaskService, name='TestTaskService1')
    transaction.commit()
    path = 'site1.++etc++site.default.testTaskService1'
    assert paths(applicationRoot(connection)) == [path]
    assert servicePath(service) == path
    capture = remotetask.testing.LogCapture()
    try:
        assert autostart.bootstrap(db, 'site1@TestTaskService1') == [path]
        assert str(capture) == (
            'INFO service TestTaskService1 on site site1 started')
        # The thread's name is the seed's.
        assert processing.threadName(service) == 'remotetasks.' + path
    finally:
        capture.uninstall()
        service.stopProcessing(wait=None)
    connection.close()


def test_ofs_object_managers(db):
    Folder = pytest.importorskip('OFS.Folder').Folder
    from lovely.remotetask.hosts.zope import TaskService
    connection = db.open()
    app = connection.root()['Application'] = Folder('Zope')
    app._setObject('site1', Folder('site1'), set_owner=False)
    app.site1._setObject('tasks', TaskService('tasks'), set_owner=False)
    transaction.commit()
    root = applicationRoot(connection)
    assert paths(root) == ['site1.tasks']
    service = findService(root, 'site1.tasks').service
    # Acquisition tells a wrapped service where it is.
    assert servicePath(app.site1.tasks) == 'site1.tasks'
    # Loaded unwrapped by oid (as a processor does), it is looked for
    # where a wildcard looks.
    other = db.open()
    naming._paths.clear()
    assert servicePath(other.get(service._p_oid)) == 'site1.tasks'
    other.close()
    connection.close()


def test_names_with_dots_are_escaped(db):
    connection = db.open()
    app = connection.root()
    app['example.com'] = PersistentMapping(
        tasks=remotetask.TaskService())
    transaction.commit()
    [entry] = listServices(app)
    assert entry.path == 'example%2Ecom.tasks'
    assert entry.urlPath == 'example%252Ecom.tasks'
    assert findService(app, 'example%2Ecom.tasks').service is entry.service
    assert findService(app, 'example%2Ecom@tasks').service is entry.service
    connection.close()


def test_a_wildcard_looks_at_so_many_entries(db, monkeypatch, caplog):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    users = app['users'] = OOBTree()
    for n in range(5):
        users[f'user{n}'] = PersistentMapping()
    users['zz'] = remotetask.TaskService()
    transaction.commit()
    monkeypatch.setattr(containers, 'SCAN_LIMIT', 3)
    with caplog.at_level(logging.WARNING, 'lovely.remotetask'):
        assert paths(app) == []
    assert 'holds more than 3 objects' in caplog.text
    assert findService(app, 'users.zz').service is users['zz']
    connection.close()


@pytest.mark.parametrize('path, message', [
    ('*@tasks', 'names services by wildcard'),
    ('site@*', 'names services by wildcard'),
    ('a..b', 'has an empty name'),
    ('a@b@c', 'expected site@service'),
    ('', 'expected site@service'),
    ('a@b.c', 'is a name, not a path'),
])
def test_malformed_paths_are_named(db, path, message):
    connection = db.open()
    with pytest.raises(InvalidArgumentError, match=message):
        findService(applicationRoot(connection), path)
    connection.close()


def test_commands_take_the_quick_start_service(tmp_path):
    from lovely.remotetask.hosts.database import openDatabase
    uri = f'file://{tmp_path}/Data.fs'
    db = openDatabase(uri)
    connection = db.open()
    connection.root()['tasks'] = remotetask.TaskService()
    transaction.commit()
    connection.close()
    db.close()
    result = servers.runCommand('jobs', '--db', uri, '--service', 'tasks')
    assert result.returncode == 0, result.stderr
    result = servers.runCommand('jobs', '--db', uri, '--service', 'nope')
    assert result.stderr.strip() == (
        "remotetask: no service 'nope'; the database has: tasks")


def test_product_config_and_the_seeds_names(monkeypatch):
    config = pytest.importorskip('App.config')
    monkeypatch.setenv('REMOTETASK_AUTOSTART', '@fromEnvironment')
    assert autostart.getAutostartServiceNames() == ['@fromEnvironment']
    configuration = config.getConfiguration()
    monkeypatch.setattr(configuration, 'product_config', {
        'lovely.remotetask': {'autostart': 'site1@Svc1, @RootSvc'}},
        raising=False)
    assert autostart.getAutostartServiceNames() == ['site1@Svc1', '@RootSvc']
    assert autostart.bootStrapSubscriber is autostart.bootstrapSubscriber
