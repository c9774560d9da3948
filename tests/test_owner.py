"""Who added a job: the host's IPrincipalSource, stored as the job's owner,
carried to the runs of a cron job, and a listing of one owner's jobs."""
import pytest
import transaction
import zope.component

from lovely import remotetask
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import IPrincipalSource
from lovely.remotetask.principals import currentPrincipal


class Acting:
    """A principal source whose principal the test sets."""

    def __init__(self):
        self.principal = None

    def __call__(self):
        return self.principal


@pytest.fixture
def acting():
    source = Acting()
    zope.component.provideUtility(source, IPrincipalSource)
    yield source
    zope.component.getGlobalSiteManager().unregisterUtility(
        source, IPrincipalSource)


@pytest.fixture
def service(db):
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    connection.root()['tasks'] = remotetask.TaskService()
    transaction.commit()
    yield connection.root()['tasks']
    transaction.abort()
    connection.close()


def test_without_a_source_jobs_have_no_owner(service):
    assert currentPrincipal() is None
    jobid = service.add('echo', 1)
    assert service.jobs[jobid].owner is None
    # Nothing is stored for it: the job's state is as before owners.
    assert 'owner' not in service.jobs[jobid].__dict__


def test_the_acting_principal_owns_what_it_adds(service, acting):
    acting.principal = 'editor'
    one = service.add('echo', 1)
    cron = service.addCronJob('echo', 2, minute=(0,))
    acting.principal = None
    anonymous = service.add('echo', 3)
    transaction.commit()
    assert service.jobs[one].owner == 'editor'
    assert service.jobs[cron].owner == 'editor'
    assert service.jobs[anonymous].owner is None


def test_a_cron_run_belongs_to_the_cron_jobs_owner(service, acting):
    acting.principal = 'editor'
    cron = service.addCronJob('echo', 2, minute=(0,))
    transaction.commit()
    acting.principal = 'someone else'
    run = service.runNow(cron)
    assert service.jobs[run].owner == 'editor'


def test_a_page_of_one_owners_jobs(service, acting):
    added = {}
    for owner in ('ann', 'bob', 'ann', None, 'bob', 'ann'):
        acting.principal = owner
        added.setdefault(owner, []).append(service.add('echo', owner))
    transaction.commit()
    page, cursor = service.jobsPage(owner='ann')
    assert [job.id for job in page] == added['ann'][::-1]
    assert cursor is None
    page, cursor = service.jobsPage(owner='ann', limit=2)
    assert [job.id for job in page] == added['ann'][:0:-1]
    page, _ = service.jobsPage(owner='ann', after=cursor)
    assert [job.id for job in page] == added['ann'][:1]
    page, _ = service.jobsPage(owner='bob', task='echo')
    assert [job.id for job in page] == added['bob'][::-1]
    assert service.jobsPage(owner='nobody')[0] == []


def test_an_owner_is_a_principal_id(service):
    with pytest.raises(InvalidArgumentError, match='owner must be the id'):
        service.jobsPage(owner=7)
