"""Make the Plone site of the Plone test, in a script of Zope's console:
``zconsole run etc/zope.conf plonesetup.py``.

A classic Plone site ``Plone`` with the task service ``portal_tasks``, a
page ``note``, and two members who may add jobs: ``editor`` (Editor: may
change the page) and ``reader`` (may not).  Prints whether anything
processes in this script (autostart must not start here).
"""
import threading

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.users import system
from plone.distribution.api import site as sites

from lovely.remotetask.runtime.processing import THREAD_PREFIX
from lovely.remotetask.hosts.zope import manage_addTaskService
from lovely.remotetask.hosts.zopesecurity import ADD_JOBS, VIEW_OWN_JOBS

app = globals()['app']   # given by zconsole
newSecurityManager(None, system)
portal = sites.create(app, 'classic', {
    'site_id': 'Plone', 'title': 'Tasks', 'setup_content': False,
    'default_language': 'en', 'portal_timezone': 'UTC'})
service = manage_addTaskService(portal, 'portal_tasks')
portal.invokeFactory('Document', 'note', title='Old title')
# A site manager's choice: members add jobs and see their own.
roles = ['Manager', 'Site Administrator', 'Member']
portal.manage_permission(ADD_JOBS, roles, acquire=1)
portal.manage_permission(VIEW_OWN_JOBS, roles, acquire=1)
portal.acl_users.userFolderAddUser('editor', 'editor-secret',
                                   ['Member', 'Editor'], [])
portal.acl_users.userFolderAddUser('reader', 'reader-secret',
                                   ['Member'], [])
transaction.commit()
print('processing in the script:', service.isProcessing(),
      [t.name for t in threading.enumerate()
       if t.name.startswith(THREAD_PREFIX)])
