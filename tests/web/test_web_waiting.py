"""The status 'waiting' (jobs that wait for other jobs, issue 27) wherever
the dashboard and the JSON API show or filter statuses."""
import pytest

from conftest import MANAGE, READ
from lovely.remotetask import Workflow
from test_web_dashboard import facts, login


@pytest.fixture
def browser(client):
    return login(client)


def addChain(service, name='nightly'):
    workflow = Workflow(name)
    workflow.chain(('a', 'echo', 1), ('b', 'echo', 2), ('c', 'echo', 3))
    return service.addWorkflow(workflow)


def test_the_overview_and_the_service_page_count_waiting_jobs(browser,
                                                              reader):
    addChain(reader.service())
    reader.tm.commit()
    row = browser.get('/').html.select_one('#service-svc')
    counts = {td['class'][1]: td.text for td in row.select('td.count')}
    assert (counts['status-queued'], counts['status-waiting']) == ('1', '2')
    page = browser.get('/services/svc')
    tab = page.html.select_one('#status-tabs a[href$="status=waiting"]')
    assert tab.select_one('.count').text == '2'
    page = browser.get('/services/svc?status=waiting')
    rows = page.html.select('#jobs tbody tr[data-job]')
    assert [tr['class'] for tr in rows] == [['status-waiting']] * 2
    assert [tr.select_one('.note').text for tr in rows] == [
        'waits for 1 job'] * 2
    assert 'wait for other jobs, in the order they came' in page.text


def test_a_waiting_jobs_page_links_what_it_waits_for(browser, reader):
    ids = addChain(reader.service())
    reader.tm.commit()
    page = browser.get(f'/services/svc/jobs/{ids["c"]}')
    assert page.html.select_one('#job-status')['class'] == [
        'badge', 'status-waiting']
    shown = facts(page)
    assert shown['Status'] == 'waiting'
    assert shown['Workflow'] == f'workflow {ids["a"]} (nightly)'
    assert shown['If one fails'] == 'it is cancelled too'
    waits = page.html.select('#waits-for li')
    assert [li['id'] for li in waits] == [f'waits-for-{ids["b"]}']
    assert waits[0].a['href'] == f'/services/svc/jobs/{ids["b"]}'
    assert waits[0].select_one('.badge').text == 'waiting'
    # A waiting job can be cancelled, and its dependents go with it.
    assert [b['id'] for b in page.html.select('#job-actions button')] == [
        'cancel']
    page = browser.get(f'/services/svc/jobs/{ids["b"]}')
    page.forms['cancel-form'].submit(status=303)
    assert reader.service().getStatus(ids['c']) == 'cancelled'
    # A job that waits for nothing says nothing of it.
    page = browser.get(f'/services/svc/jobs/{ids["a"]}')
    assert page.html.select_one('#waits-for') is None
    assert 'If one fails' not in facts(page)


def test_a_removed_dependency_shows_unlinked(browser, reader):
    service = reader.service()
    first = service.add('echo', 1)
    waiting = service.add('echo', 2, after=[first], onFailure='run')
    service.cancel(first)
    service.clean()
    reader.tm.commit()
    assert service.getStatus(waiting) == 'queued'
    page = browser.get(f'/services/svc/jobs/{waiting}')
    item = page.html.select_one(f'#waits-for-{first}')
    assert item.a is None and item.select_one('.badge').text == 'removed'
    assert facts(page)['If one fails'] == 'it runs anyway'


def test_the_api_filters_and_describes_waiting_jobs(client, reader):
    ids = addChain(reader.service())
    reader.tm.commit()
    page = client.get('/api/services/svc/jobs?status=waiting',
                      headers=READ).json
    assert sorted(job['id'] for job in page['jobs']) == [ids['b'], ids['c']]
    job = client.get(f'/api/services/svc/jobs/{ids["c"]}', headers=READ).json
    assert (job['status'], job['waitsFor'], job['waitsForCount'],
            job['onFailure'], job['workflow'], job['batch'],
            job['queue']) == ('waiting', [ids['b']], 1, 'cancel', ids['a'],
                              None, 'default')
    summary = client.get('/api/services/svc', headers=READ).json
    assert summary['counts']['waiting'] == 2


def test_cancel_all_takes_waiting_jobs_first(client, reader):
    service = reader.service()
    first = service.add('echo', 1)
    anyway = service.add('echo', 2, after=[first], onFailure='run')
    reader.tm.commit()
    answer = client.post('/api/services/svc/cancel-all', headers=MANAGE).json
    assert answer['statuses'][0] == 'waiting'
    assert answer['cancelled'] == 2
    # Had the queued job gone first, the one that runs anyway would have
    # been released into the queue and left there.
    assert reader.service().getStatus(anyway) == 'cancelled'


def test_a_batch_callback_lists_the_first_of_many(browser, client, reader):
    from lovely.remotetask.serialize import WAITS_SHOWN
    service = reader.service()
    with service.batch(onComplete='echo') as batch:
        for n in range(WAITS_SHOWN + 3):
            batch.add('echo', n)
    callback = batch.id
    reader.tm.commit()
    job = client.get(f'/api/services/svc/jobs/{callback}', headers=READ).json
    assert (len(job['waitsFor']), job['waitsForCount'], job['batch'],
            job['onFailure']) == (WAITS_SHOWN, WAITS_SHOWN + 3, callback,
                                  'run')
    page = browser.get(f'/services/svc/jobs/{callback}')
    assert page.html.select_one('#waits-for-more').text == 'and 3 more'
    assert facts(page)['Batch'] == f'batch {callback}'
