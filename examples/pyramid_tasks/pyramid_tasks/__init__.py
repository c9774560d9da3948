"""A Pyramid application that adds jobs in its requests.

Notes are kept in the database; saving one is a job.  The request that
adds the job commits it with everything else it did (pyramid_tm), or not
at all; a request whose commit conflicts runs again (pyramid_retry); the
job runs in a background thread of the same process (or in a
``remotetask worker``), and later requests see what it wrote.

    pserve development.ini
"""
import persistent.mapping
import transaction
import zope.component
from BTrees.OOBTree import OOBTree
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask.hosts.pyramid import getDatabase

ROOT_KEY = 'app_root'


class Root(persistent.mapping.PersistentMapping):
    """The application root; its items know where they are, as Pyramid's
    traversal wants."""

    __parent__ = __name__ = None

    def __setitem__(self, name, obj):
        obj.__parent__, obj.__name__ = self, name
        super().__setitem__(name, obj)


def setUp(db):
    """Make the application's objects once: notes and the task service."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        with tm:
            root = connection.root()
            if ROOT_KEY not in root:
                app = root[ROOT_KEY] = Root()
                app['notes'] = Notes()
                app['tasks'] = remotetask.TaskService()
    finally:
        connection.close()


class Notes(OOBTree):
    __parent__ = __name__ = None


def rootFactory(request):
    from pyramid_zodbconn import get_connection
    return get_connection(request).root()[ROOT_KEY]


def shout(input):
    """Stands for slow work."""
    return input['text'].upper()


class SaveNote(remotetask.SimpleTask):
    """A task that writes to the application's data.  As a class it gets
    the service, and reaches the notes from there, in the job's own
    transaction: what it writes commits with the job's result."""

    def __call__(self, service, jobid, input):
        text = self.func(input)
        service.__parent__['notes'][input['name']] = text
        return text


zope.component.provideUtility(SaveNote(shout), name='saveNote')


def _job(request, jobid):
    service = request.taskService('tasks')
    return dict(id=jobid, status=service.getStatus(jobid))


@view_config(route_name='save', request_method='POST', renderer='json')
def save(request):
    jobid = request.taskService('tasks').add(
        'saveNote', dict(name=request.matchdict['name'],
                         text=request.json_body['text']))
    return _job(request, jobid)


@view_config(route_name='saveAndFail', request_method='POST',
             renderer='json')
def saveAndFail(request):
    request.taskService('tasks').add(
        'saveNote', dict(name=request.matchdict['name'], text='never'))
    raise RuntimeError('the request fails after add(): no job is left')


@view_config(route_name='saveAfterConflict', request_method='POST',
             renderer='json')
def saveAfterConflict(request):
    jobid = request.taskService('tasks').add(
        'saveNote', dict(name=request.matchdict['name'],
                         text=request.json_body['text']))
    attempt = request.environ['retry.attempt']   # set by pyramid_retry
    if attempt == 0:
        # As if another request had changed the same objects: the first
        # attempt is thrown away, pyramid_retry runs the request again.
        raise ConflictError('conflict on the first attempt')
    return dict(_job(request, jobid), attempt=attempt)


@view_config(route_name='job', renderer='json')
def job(request):
    service = request.taskService('tasks')
    try:
        jobid = int(request.matchdict['id'])
        status = service.getStatus(jobid)
    except (ValueError, KeyError):
        raise HTTPNotFound()
    return dict(id=jobid, status=status, result=service.getResult(jobid),
                error=service.getError(jobid))


@view_config(route_name='note', renderer='json')
def note(request):
    notes = request.context['notes']
    name = request.matchdict['name']
    if name not in notes:
        raise HTTPNotFound()
    return dict(name=name, text=notes[name])


@view_config(route_name='jobs', renderer='json')
def jobs(request):
    service = request.taskService('tasks')
    return dict(jobs=sorted(service.jobs.keys()))


def main(global_config, **settings):
    settings.setdefault('remotetask.root_key', ROOT_KEY)
    with Configurator(settings=settings, root_factory=rootFactory) as config:
        config.include('pyramid_tm')
        config.include('pyramid_retry')
        config.include('pyramid_zodbconn')
        setUp(getDatabase(config.registry))
        config.include('lovely.remotetask.hosts.pyramid')
        config.include('lovely.remotetask.web.pyramid')   # the Web service
        config.add_route('save', '/notes/{name}', request_method='POST')
        config.add_route('saveAndFail', '/notes/{name}/fail')
        config.add_route('saveAfterConflict', '/notes/{name}/conflict')
        config.add_route('note', '/notes/{name}')
        config.add_route('job', '/jobs/{id}')
        config.add_route('jobs', '/jobs')
        config.scan()
        return config.make_wsgi_app()
