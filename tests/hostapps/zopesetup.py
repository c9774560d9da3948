"""Fill a new Zope instance's database for the Zope tests:
``python -m hostapps.zopesetup ZOPE_CONF``.

- ``site1``: a folder with a `lovely.remotetask.hosts.zope.TaskService` ``tasks``
  and a file ``note``;
- ``site2``: a local site whose site manager has a plain TaskService
  registered as the ITaskService utility ``reports`` (as the seed did);
- the user ``editor`` (Manager) in the root user folder, and users for
  the permissions: ``viewer`` (role TaskViewer: view jobs), ``adder``
  (role TaskAdder: add jobs, view own jobs) and ``member`` (none of them),
  the roles granted the permissions on site1 as a site manager would.
"""
import sys

import transaction


def main(conf):
    from Zope2.Startup.run import configure_wsgi
    configure_wsgi(conf)
    import Zope2
    Zope2.startup_wsgi()
    app = Zope2.app()

    from OFS.Folder import manage_addFolder
    from OFS.Image import manage_addFile
    from Products.Five.component import enableSite
    from Products.Five.component.interfaces import IObjectManagerSite
    from zope.component.globalregistry import base
    from zope.component.persistentregistry import PersistentComponents

    from lovely import remotetask
    from lovely.remotetask.interfaces import ITaskService
    from lovely.remotetask.hosts.zope import manage_addTaskService

    manage_addFolder(app, 'site1')
    manage_addTaskService(app.site1, 'tasks')
    manage_addFile(app.site1, 'note', b'old text', content_type='text/plain')

    manage_addFolder(app, 'site2')
    site2 = app.site2
    enableSite(site2, iface=IObjectManagerSite)
    components = PersistentComponents('++etc++site')
    components.__bases__ = (base,)
    site2.setSiteManager(components)
    components.registerUtility(remotetask.TaskService(), ITaskService,
                               name='reports')

    app.acl_users._doAddUser('editor', 'secret', ['Manager'], [])
    from lovely.remotetask.hosts.zopesecurity import (
        ADD_JOBS, VIEW_JOBS, VIEW_OWN_JOBS)
    app._addRole('TaskViewer')
    app._addRole('TaskAdder')
    site1 = app.site1
    site1.manage_permission(VIEW_JOBS, ['Manager', 'TaskViewer'])
    site1.manage_permission(ADD_JOBS, ['Manager', 'TaskAdder'])
    site1.manage_permission(VIEW_OWN_JOBS, ['Manager', 'TaskAdder'])
    # The ZMI's pages need it, the service's Jobs tab too.
    site1.manage_permission('View management screens',
                            ['Manager', 'TaskAdder'])
    app.acl_users._doAddUser('viewer', 'secret', ['TaskViewer'], [])
    app.acl_users._doAddUser('adder', 'secret', ['TaskAdder'], [])
    app.acl_users._doAddUser('member', 'secret', ['Member'], [])
    transaction.commit()
    app._p_jar.close()
    Zope2.DB.close()


if __name__ == '__main__':
    main(*sys.argv[1:])
