"""Tasks of the Zope tests, registered by this package's configure.zcml."""
import time

from AccessControl import getSecurityManager
from OFS.Image import manage_addFile
from zope.component.hooks import getSite

from lovely.remotetask.hosts.zope import ANONYMOUS, SYSTEM, ZopeTask


def _editNote(context, input):
    # Traversed with security checks: Anonymous may not edit.
    edit = context.restrictedTraverse('note/manage_edit')
    edit('edited', 'text/plain', filedata=input['text'].encode())
    manage_addFile(context, input['report'], file=input['text'].encode(),
                   content_type='text/plain')
    return dict(user=getSecurityManager().getUser().getId(),
                owner=context[input['report']].getOwner().getId(),
                site=_sitePath())


def _where(context, input):
    return dict(user=getSecurityManager().getUser().getUserName(),
                site=_sitePath(),
                context='/'.join(context.getPhysicalPath()))


def _hold(context, input):
    with open(input['path'], 'w') as f:
        f.write('started')
    time.sleep(input['seconds'])


def _sitePath():
    site = getSite()
    return None if site is None else '/'.join(site.getPhysicalPath())


editNote = ZopeTask(_editNote, user='editor')
anonymousEdit = ZopeTask(_editNote, user=ANONYMOUS)
where = ZopeTask(_where, user=SYSTEM)
hold = ZopeTask(_hold)


def _whoami(context, input):
    return getSecurityManager().getUser().getId()


#: Runs as the user who added the job.
whoami = ZopeTask(_whoami)
