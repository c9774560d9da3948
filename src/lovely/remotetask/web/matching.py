"""The dashboard's actions on every job matching the jobs page's filter
(issue 29): cancel, retry or delete them all, not only the rows shown.

The service page's buttons post the filter here; the answer is a page
that says how many jobs match and asks to go on; going on acts on them in
batches of a transaction each (`actions.onMatching`) and goes back to the
jobs page with the count.  A script-free confirmation, so that it holds
without JavaScript too.
"""
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.serialize import statusNamed
from lovely.remotetask.web import actions
from lovely.remotetask.web.auth import MANAGE
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.pagestate import goBack
from lovely.remotetask.web.parsing import searchParameters, shown
from lovely.remotetask.web.rendering import count, render

#: (verb, past tense) of each action, as the pages say them.
WORDS = dict(cancel=('Cancel', 'Cancelled'), retry=('Retry', 'Retried'),
             delete=('Delete', 'Deleted'))


def register(router) -> None:
    router.add('POST', '/services/{service}/matching', onMatching, MANAGE,
               'html')


def filterText(status, task, tag=None, search=None) -> str:
    """The filter in words: 'status error and task mail'."""
    parts = ([f'status {status}'] if status else []) + (
        [f'task {task}'] if task else []) + (
        [f'tag {tag}'] if tag else []) + (
        [f'words "{search}"'] if search else [])
    return ' and '.join(parts) or 'any status and task'


def onMatching(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    action = form.get('action', '')
    if action not in WORDS:
        raise HTTPError(400, f'action must be one of {", ".join(WORDS)}, '
                        f'not {shown(action)}')
    status = form.get('status', '').strip() or None
    if status is not None:
        status = statusNamed(status) or status
    task = form.get('task', '').strip() or None
    filters = searchParameters(form)
    try:
        matching = actions.countMatching(entry.service, action, status,
                                         task, **filters)
    except InvalidArgumentError as error:
        raise HTTPError(400, f'{error}: choose another status in the '
                        f'filter') from None
    verb, done = WORDS[action]
    if form.get('confirm') != 'yes':
        return render(
            ctx, 'matching', title=f'{verb} jobs of {entry.path}',
            entry=entry, action=action, filterStatus=status or '',
            task=task or '', tag=filters['tag'] or '',
            q=filters['search'] or '', matching=matching, verb=verb,
            what=count(matching, 'job'),
            filterText=filterText(status, task, **filters),
            statuses=', '.join(actions.matchingStatuses(action, status)),
            back=form.get('back', ''))
    acted = actions.onMatching(ctx, entry.service, action, status, task,
                               **filters)
    return goBack(ctx, entry, f'{done} {count(acted, "job")} matching '
                  f'{filterText(status, task, **filters)}.')
