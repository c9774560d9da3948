"""Zope on a real instance: ``mkwsgiinstance``, served by waitress through
``runwsgi`` in a process of its own, with lovely.remotetask's ZCML, the
autostart of zope.conf, a service in the OFS tree and one registered in a
site manager, tasks that run in their site as a user, and the Web service
mounted in Zope's WSGI pipeline."""
import os
import sys
import urllib.error
import urllib.request

import pytest

from lovely.remotetask import testing
from zopeinstance import ADMIN, call

pytest.importorskip('Zope2')


@pytest.fixture(scope='module')
def zope(tmp_path_factory):
    from zopeinstance import ZopeInstance
    instance = ZopeInstance(str(tmp_path_factory.mktemp('zope') / 'zi'))
    instance.run(sys.executable, '-m', 'hostapps.zopesetup', instance.conf)
    instance.setUp()
    instance.start()
    yield instance
    if instance.process.poll() is None:
        instance.stop()


def test_autostart_of_zope_conf(zope):
    testing.waitUntil(lambda: 'service reports on site site2 started'
                      in zope.output(), timeout=30)
    assert 'service tasks on site site1 started' in zope.output()
    services = {s['id']: s for s in zope.api('/services')['services']}
    assert services['site1.tasks']['processing'] is True
    assert services['site2.++etc++site.reports']['processing'] is True


def test_a_task_changes_ofs_content_as_a_user(zope):
    assert zope.request('/site1/note', user='admin:admin') == 'old text'
    job = zope.runJob('site1.tasks', 'editNote',
                      dict(text='new text', report='report1'))
    assert job['status'] == 'completed', job['error']
    assert job['result'] == dict(user='editor', owner='editor', site=None)
    # A later request sees what the task committed.
    assert zope.request('/site1/note', user='admin:admin') == 'new text'
    assert zope.request('/site1/report1', user='admin:admin') == 'new text'


def test_anonymous_may_not(zope):
    job = zope.runJob('site1.tasks', 'anonymousEdit',
                      dict(text='sneaky', report='report2'))
    assert job['status'] == 'error'
    assert job['error'].startswith('Unauthorized')
    assert zope.request('/site1/note', user='admin:admin') == 'new text'
    with pytest.raises(urllib.error.HTTPError):
        zope.request('/site1/report2', user='admin:admin')


def test_a_registered_service_runs_in_its_site(zope):
    job = zope.runJob('site2.++etc++site.reports', 'where', {})
    assert job['status'] == 'completed', job['error']
    assert job['result'] == dict(user='System Processes', site='/site2',
                                 context='/site2')
    # site@name, the directive's spelling, names the same service.
    same = zope.api('/services/site2@reports')
    assert same['id'] == 'site2.++etc++site.reports'


# Security: what Zope publishes of a service, and to whom

def serviceState(zope, path='site1.tasks'):
    """What a request could change: the figures, and every job's status."""
    data = zope.api(f'/services/{path}')
    jobs = zope.api(f'/services/{path}/jobs?limit=200')['jobs']
    return (data['counts'], data['paused'], data['processing'],
            sorted(w['id'] for w in data['workers']),
            sorted((job['id'], job['status'], job['attempts'])
                   for job in jobs))


def interfaceNames():
    from lovely.remotetask.interfaces import ITaskService, IWorkerProtocol
    return sorted(set(ITaskService.names()) | set(IWorkerProtocol.names()))


#: Arguments that would make each call do something, were it let through.
ARGUMENTS = {'jobid:int': '1', 'workerId': 'intruder', 'leaseTime:int': '60',
             'task': 'where', 'status': 'completed'}


def test_nobody_without_a_permission_reaches_the_service(zope):
    before = serviceState(zope)
    for name in interfaceNames():
        for method in ('GET', 'POST'):
            for user in (None, 'member:secret'):
                status, body = call(zope, f'/site1/tasks/{name}', method,
                                    user, ARGUMENTS)
                assert not 200 <= status < 300, (name, method, user, body)
                assert status in (401, 403, 404), (name, method, user)
    assert serviceState(zope) == before


def test_nothing_below_the_service_is_reachable(zope):
    from lovely.remotetask.hosts.zope import TaskService
    names = sorted(set(vars(TaskService('x'))) | {
        'jobs/1', 'jobs/remove', 'jobs/1/input', 'jobs/1/status',
        '_workers/keys', '_settings/paused', 'maxStoredSize',
        'keepFinished', 'processorFactory', 'getProgress', 'setProgress',
        'zmiSummary', 'jobs/get', 'manage_addJob', 'manage_processing'})
    for name in names:
        for user in (None, 'member:secret', 'admin:admin'):
            status, body = call(zope, f'/site1/tasks/{name}', 'GET', user,
                                {'jobid:int': '1'})
            assert not 200 <= status < 300, (name, user, body[:200])


def addScratch(zope, name):
    """A service added through the ZMI's add form, for calls that change
    it; it has no jobs and nothing processes it."""
    status, body = call(zope, '/site1/manage_addProduct/lovely.remotetask/'
                        'manage_addTaskServiceForm', user='admin:admin')
    assert status == 200 and 'Add Remote Task Service' in body
    status, _ = call(zope, '/site1/manage_addProduct/lovely.remotetask/'
                     'manage_addTaskService', 'POST', 'admin:admin',
                     dict(id=name, title='scratch'))
    assert status == 200   # redirected to its Jobs tab
    status, body = call(zope, f'/site1/{name}/manage_main',
                        user='admin:admin')
    assert status == 200 and 'Add a job' in body


def test_a_user_with_the_permission_calls_through_the_publisher(zope):
    import inspect
    from lovely.remotetask.hosts import zopesecurity
    from lovely.remotetask.service import TaskService
    addScratch(zope, 'scratch')
    holders = {zopesecurity.VIEW_JOBS: 'viewer:secret',
               zopesecurity.ADD_JOBS: 'adder:secret',
               zopesecurity.MANAGE_SERVICE: 'admin:admin'}
    for name in interfaceNames():
        permission = zopesecurity.GRANTS[name]
        if permission is None:
            continue
        required = [p for p in inspect.signature(
            getattr(TaskService, name)).parameters.values()
            if p.default is p.empty and p.name != 'self'
            and p.kind is p.POSITIONAL_OR_KEYWORD]
        user = holders[permission]
        methods = ['POST'] + (['GET'] if permission in
                              zopesecurity.READING else [])
        for method in methods:
            status, body = call(zope, f'/site1/scratch/{name}', method,
                                user)
            # addBatch needs one of its optional callbacks.
            expected = ((400,) if required or name == 'addBatch'
                        else (200, 204))
            assert status in expected, (name, method, status, body[:300])
            if name == 'addBatch':
                # The library's own error, as a 400 that says why.
                assert 'a batch needs a callback' in body
        if permission not in zopesecurity.READING:
            # A change is never published for GET: no link, no image
            # of another page makes a browser do it (Zope says 404 for
            # what it does not publish).
            status, body = call(zope, f'/site1/scratch/{name}', 'GET',
                                user)
            assert status == 404, (name, status)
    # What the viewer may not, and the other way round.
    assert call(zope, '/site1/scratch/pause', 'POST', 'viewer:secret')[0] \
        == 401
    assert call(zope, '/site1/scratch/isPaused', 'GET', 'adder:secret')[0] \
        == 401


def test_changes_come_from_no_other_site(zope):
    status, body = call(zope, '/site1/scratch/pause', 'POST', 'admin:admin',
                        headers={'Sec-Fetch-Site': 'cross-site'})
    assert status == 403 and 'another site' in body
    assert zope.api('/services/site1.scratch')['paused'] is False
    assert call(zope, '/site1/scratch/pause', 'POST', 'admin:admin',
                headers={'Sec-Fetch-Site': 'same-origin'})[0] == 204
    assert zope.api('/services/site1.scratch')['paused'] is True


def test_a_job_added_in_the_zmi_runs_as_its_user(zope):
    status, body = call(zope, '/site1/tasks/manage_addJob', 'POST',
                        'adder:secret', dict(task='whoami', input='{}'))
    assert status == 200, body
    jobs = zope.api('/services/site1.tasks/jobs?task=whoami')['jobs']
    assert jobs[0]['owner'] == 'adder'
    done = {}

    def finished():
        done.update(zope.api(f'/services/site1.tasks/jobs/{jobs[0]["id"]}'))
        return done['status'] in ('completed', 'error')

    testing.waitUntil(finished, timeout=30, interval=0.05)
    assert done['result'] == 'adder', done['error']
    # Nobody else may add from the ZMI, or from another site.
    assert call(zope, '/site1/tasks/manage_addJob', 'POST', 'viewer:secret',
                dict(task='whoami'))[0] == 401
    assert call(zope, '/site1/tasks/manage_addJob', 'GET', 'adder:secret',
                dict(task='whoami'))[0] == 404


# The Web service inside Zope: Zope's users and permissions

def test_the_web_service_asks_for_a_zope_user(zope):
    status, body = call(zope, '/remotetask/api/services')
    assert status == 401 and 'users of Zope' in body
    request = urllib.request.Request(
        f'http://127.0.0.1:{zope.port}/remotetask/api/services',
        headers={'Authorization': 'Bearer some-token-of-old'})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    assert refused.value.headers['WWW-Authenticate'] == 'Basic realm="Zope"'
    assert call(zope, '/remotetask/api/services', user='admin:wrong')[0] \
        == 401
    # A browser is asked for a login, not sent to a token form.
    status, body = call(zope, '/remotetask/')
    assert status == 401 and 'users of Zope' in body


def test_each_user_does_what_their_permissions_allow(zope):
    api = '/remotetask/api/services/site1.tasks'
    # The member holds none of the permissions: sees no service.
    assert zope.api('/services', user='member:secret')['services'] == []
    assert call(zope, api, user='member:secret')[0] == 403
    # The viewer sees every job, and may not add one.
    viewed = zope.api('/services/site1.tasks/jobs', user='viewer:secret')
    assert len(viewed['jobs']) > 1
    status, body = call(zope, f'{api}/jobs', 'POST', 'viewer:secret')
    assert status == 403 and 'viewer may not' in body
    # The adder adds (the job is theirs, and runs as them) and sees
    # their own jobs only.
    job = zope.runJob('site1.tasks', 'whoami', {}, user='adder:secret')
    assert job['owner'] == 'adder' and job['result'] == 'adder', job
    own = zope.api('/services/site1.tasks/jobs', user='adder:secret')
    assert {j['owner'] for j in own['jobs']} == {'adder'}
    other = next(j for j in viewed['jobs'] if j['owner'] != 'adder')
    status, body = call(zope, f'{api}/jobs/{other["id"]}',
                        user='adder:secret')
    assert status == 403 and 'only the jobs you added' in body
    assert call(zope, f'{api}/pause', 'POST', 'adder:secret')[0] == 403
    # The dashboard shows the same, with who added each job.
    status, page = call(zope, '/remotetask/services/site1.tasks',
                        user='adder:secret')
    assert status == 200 and 'adder (Zope)' in page
    assert f'id="job-{job["id"]}"' in page
    assert f'id="job-{other["id"]}"' not in page
    assert 'id="add-form"' in page and 'id="pause-form"' not in page
    status, page = call(zope, f'/remotetask/services/site1.tasks/jobs/'
                        f'{job["id"]}', user='adder:secret')
    assert status == 200 and 'Added by' in page


def test_a_change_from_another_site_is_refused(zope):
    before = serviceState(zope)
    status, body = call(zope, '/remotetask/api/services/site1.tasks/pause',
                        'POST', ADMIN,
                        headers={'Sec-Fetch-Site': 'cross-site'})
    assert status == 403 and 'another site' in body
    assert serviceState(zope) == before


def test_sigterm_gives_back_the_job_in_hand(zope):
    started = os.path.join(zope.directory, 'started')
    jobid = zope.api('/services/site1.tasks/jobs', dict(
        task='hold', input=dict(seconds=3600, path=started)))['id']
    # Running, not only claimed (a claimed job is given back unstarted).
    testing.waitUntil(lambda: os.path.exists(started), timeout=30,
                      interval=0.05)
    zope.stop()
    # The database is free now: read it as a worker would.
    from lovely.remotetask.hosts.database import openDatabase
    from lovely.remotetask.hosts.locate import applicationRoot, findService
    db = openDatabase('file://' + os.path.join(zope.directory, 'var',
                                               'Data.fs'))
    try:
        connection = db.open()
        service = findService(applicationRoot(connection),
                              'site1.tasks').service
        assert service.getStatus(jobid) == 'queued'
        assert service.getWorkers() == []
        connection.close()
    finally:
        db.close()
    assert f'job {jobid} given back' in zope.output()
