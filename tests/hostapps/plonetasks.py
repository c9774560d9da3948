"""A Plone add-on's view that adds a job, and the job's task, which edits
content as the user who added it (tests/test_plone.py)."""
from AccessControl import Unauthorized, getSecurityManager
from Products.CMFCore.permissions import ModifyPortalContent
from Products.Five.browser import BrowserView
from plone.protect import CheckAuthenticator
from zope.component.hooks import getSite

from lovely.remotetask.hosts.zope import ZopeTask

FORM = '''<form method="post">{authenticator}
<input name="title"><button type="submit">Retitle</button></form>'''


class RetitleNote(BrowserView):
    """GET: a form; POST: a job that gives the note a new title."""

    def __call__(self):
        if self.request.method != 'POST':
            authenticator = self.context.restrictedTraverse(
                '@@authenticator').authenticator()
            return FORM.format(authenticator=authenticator)
        CheckAuthenticator(self.request)
        jobid = self.context.portal_tasks.add(
            'retitle', dict(path='note', title=self.request.form['title']))
        self.request.response.setHeader('Content-Type', 'text/plain')
        return str(jobid)


def _retitle(portal, input):
    document = portal.restrictedTraverse(input['path'])
    user = getSecurityManager().getUser()
    if not getSecurityManager().checkPermission(ModifyPortalContent,
                                                document):
        raise Unauthorized(f'{user.getId()} may not modify '
                           f'{input["path"]!r}')
    document.setTitle(input['title'])
    document.reindexObject()
    return dict(user=user.getId(), site=getSite().getId())


#: Runs as the user who added the job.
retitle = ZopeTask(_retitle)
