"""The class security of the package in Zope: every persistent class
private by default, every name of the service's interfaces granted to a
permission.  A class or an interface name added later fails here until
it is declared (or mapped in `zopesecurity.GRANTS`)."""
import pytest

pytest.importorskip('AccessControl')

from AccessControl import Unauthorized  # noqa: E402
from AccessControl.Permission import ApplicationDefaultPermissions  # noqa
from AccessControl.Permission import getPermissionIdentifier  # noqa: E402
from AccessControl.SecurityManagement import (  # noqa: E402
    newSecurityManager, noSecurityManager)
from AccessControl.ZopeGuards import guarded_getattr  # noqa: E402

from lovely.remotetask.hosts import zope as zopehost  # noqa: E402
from lovely.remotetask.hosts import zopesecurity  # noqa: E402
from lovely.remotetask.store.versioning import Versioned  # noqa: E402

CLASSES = list(zopesecurity.persistentClasses())


def test_the_walk_finds_the_stores_classes():
    names = {cls.__name__ for cls in CLASSES}
    assert {'TaskService', 'Job', 'CronJob', 'JobMap', 'Settings'} <= names
    assert zopehost.TaskService in CLASSES


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_persistent_class_is_declared(cls):
    assert hasattr(cls, '__roles__'), f'{cls} declares no object roles'
    if cls is not zopehost.TaskService:
        assert cls.__roles__ == (), f'{cls} is not private'
        assert cls.__zpublishable__ is False
    undeclared = sorted(name for name in zopesecurity.publicNames(cls)
                        if not zopesecurity.declared(cls, name))
    assert undeclared == [], f'{cls.__qualname__} leaves undeclared: ' \
        f'{", ".join(undeclared)}'


def test_every_interface_name_is_granted():
    for interface in zopesecurity.INTERFACES:
        unmapped = sorted(set(interface.names()) - set(zopesecurity.GRANTS))
        assert unmapped == [], f'{interface.__name__}: map ' \
            f'{", ".join(unmapped)} in zopesecurity.GRANTS'


def test_the_permissions_are_registered_with_their_roles():
    for permission, roles in zopesecurity.DEFAULT_ROLES.items():
        assert getattr(ApplicationDefaultPermissions,
                       getPermissionIdentifier(permission)) == roles
    assert set(zopesecurity.GRANTS.values()) - {None} <= set(
        zopesecurity.DEFAULT_ROLES)


def test_a_class_added_later_is_private():
    class Later(Versioned):
        __module__ = 'lovely.remotetask.store'

        def erase(self):
            """Would be published: it has a docstring."""
    zopesecurity.secureClasses()
    assert Later.__roles__ == ()
    assert Later.erase__roles__ == ()
    assert Later.__zpublishable__ is False


def test_changes_are_published_for_post_only():
    service = zopehost.TaskService
    assert service.getStatus.__zpublishable__ is True
    assert service.stopProcessing.__zpublishable__ == ('POST',)
    assert service.claim.__zpublishable__ == ('POST',)
    # Not a name of the interfaces: private, and no page.
    assert service.setProgress__roles__ is not None
    assert service.getProgress__roles__ == ()


@pytest.fixture
def app():
    from OFS.Application import Application
    from OFS.Folder import Folder
    from ZODB import DB
    from ZODB.DemoStorage import DemoStorage
    import transaction
    db = DB(DemoStorage())
    connection = db.open()
    app = connection.root()['Application'] = Application()
    app._setObject('site1', Folder('site1'), set_owner=False)
    zopehost.manage_addTaskService(app.site1, 'tasks')
    app.acl_users._doAddUser('boss', 'secret', ['Manager'], [])
    app.acl_users._doAddUser('member', 'secret', ['Member'], [])
    transaction.commit()
    yield app
    noSecurityManager()
    transaction.abort()
    connection.close()
    db.close()


def _as(app, name):
    user = app.acl_users.getUser(name).__of__(app.acl_users)
    newSecurityManager(None, user)


def test_restricted_code_needs_the_permission(app):
    service = app.site1.tasks
    _as(app, 'member')
    for name in ('stopProcessing', 'add', 'getStatus', 'jobs', 'claim',
                 'maxStoredSize', 'getProgress', '_workers'):
        with pytest.raises(Unauthorized):
            guarded_getattr(service, name)
    _as(app, 'boss')
    assert guarded_getattr(service, 'isProcessing')() is False
    guarded_getattr(service, 'stopProcessing')
    with pytest.raises(Unauthorized):   # private: nobody
        guarded_getattr(service, 'getProgress')
    with pytest.raises(Unauthorized):   # the stored jobs are private
        guarded_getattr(service, 'jobs')


def test_zcml_refuses_a_function_that_is_no_task(tmp_path):
    from zope.configuration import xmlconfig
    from zope.configuration.config import ConfigurationExecutionError
    import zope.component
    (tmp_path / 'notask.py').write_text(
        'def retitle(context, input):\n    pass\n')
    (tmp_path / 'configure.zcml').write_text(
        '<configure xmlns="http://namespaces.zope.org/zope">\n'
        '  <include package="zope.component" file="meta.zcml" />\n'
        '  <include package="zope.component" />\n'
        '  <include package="lovely.remotetask" />\n'
        '  <utility component="notask.retitle" name="retitle"\n'
        '           provides="lovely.remotetask.interfaces.ITask" />\n'
        '</configure>\n')
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ConfigurationExecutionError,
                           match='wrap the function, ZopeTask'):
            xmlconfig.file(str(tmp_path / 'configure.zcml'))
    finally:
        sys.path.remove(str(tmp_path))
        from zope.interface.interfaces import (
            IRegistered, IUtilityRegistration)
        from lovely.remotetask.hosts import taskcheck
        from lovely.remotetask.interfaces import IPrincipalSource, ITask
        registry = zope.component.getGlobalSiteManager()
        registry.unregisterUtility(name='retitle', provided=ITask)
        registry.unregisterUtility(provided=IPrincipalSource)
        registry.unregisterHandler(taskcheck.checkRegistration,
                                   (IUtilityRegistration, IRegistered))
