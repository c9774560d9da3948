"""Fill a new Zope instance's database for the Zope tests:
``python -m hostapps.zopesetup ZOPE_CONF``.

- ``site1``: a folder with a `lovely.remotetask.hosts.zope.TaskService` ``tasks``
  and a file ``note``;
- ``site2``: a local site whose site manager has a plain TaskService
  registered as the ITaskService utility ``reports`` (as the seed did);
- the user ``editor`` (Manager) in the root user folder.
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
    transaction.commit()
    app._p_jar.close()
    Zope2.DB.close()


if __name__ == '__main__':
    main(*sys.argv[1:])
