"""The dashboard's workflow page and the queues of a service's page
(issues 27 and 28), through their forms, as a browser without JavaScript
uses them."""
import pytest

from conftest import READ_TOKEN
from lovely import remotetask
from lovely.remotetask import Workflow
from lovely.remotetask.web import settings, workflowgraph
from test_web_dashboard import facts, login


@pytest.fixture
def browser(client):
    return login(client)


def addFlow(service):
    workflow = Workflow('release')
    workflow.add('fetch', 'echo', 1)
    workflow.add('build', 'fail', 'compiler', after='fetch')
    workflow.add('notes', 'echo', 'notes', after='fetch')
    workflow.add('publish', 'echo', 3, after=['build', 'notes'])
    return service.addWorkflow(workflow)


def test_a_workflows_page_draws_its_steps(browser, reader):
    ids = addFlow(reader.service())
    reader.tm.commit()
    # A step's page links to its workflow's.
    page = browser.get(f'/services/svc/jobs/{ids["publish"]}')
    assert page.html.select_one('#fact-workflow a')['href'] == (
        f'/services/svc/workflows/{ids["fetch"]}')
    page = page.click(href=f'/services/svc/workflows/{ids["fetch"]}$')
    assert page.html.h1.text.split() == [
        'Workflow', f'{ids["fetch"]}:', 'release', 'waiting']
    assert page.html.select_one('#workflow-progress').text.split()[:6] == [
        '0', 'of', '4', '0', 'of', '4']
    graph = page.html.select_one('svg#workflow-graph')
    boxes = {a['id']: a for a in graph.select('a.step')}
    assert set(boxes) == {f'step-{one}' for one in ids.values()}
    build = boxes[f'step-{ids["build"]}']
    assert build['href'] == f'/services/svc/jobs/{ids["build"]}'
    assert build['class'] == ['step', 'status-waiting']
    assert [t.text for t in build.select('text')] == ['build', 'waiting']
    edges = {(p['data-from'], p['data-to']) for p in graph.select('path.edge')}
    assert edges == {('fetch', 'build'), ('fetch', 'notes'),
                     ('build', 'publish'), ('notes', 'publish')}
    # Each column is one step deeper than the deepest it waits for.
    x = {name: float(boxes[f'step-{one}'].rect['x'])
         for name, one in ids.items()}
    assert x['fetch'] < x['build'] == x['notes'] < x['publish']
    rows = page.html.select('#steps tbody tr')
    assert [tr.select_one('.name').text for tr in rows] == [
        'fetch', 'build', 'notes', 'publish']
    assert rows[3].select_one('.after').text == 'build, notes'
    assert [b['id'] for b in page.html.select('#workflow-actions button')] \
        == ['cancel-workflow']


def test_retry_and_cancel_from_the_workflows_page(browser, reader):
    service = reader.service()
    ids = addFlow(service)
    service.process()
    reader.tm.commit()
    page = browser.get(f'/services/svc/workflows/{ids["build"]}')
    assert page.html.select_one('#workflow-status').text == 'failed'
    assert page.html.select_one(f'#step-row-{ids["build"]} .error').text \
        == 'failed: compiler'
    assert [b['id'] for b in page.html.select('#workflow-actions button')] \
        == ['retry-workflow']
    page = page.forms['retry-workflow-form'].submit(status=303).follow()
    assert page.request.path == f'/services/svc/workflows/{ids["fetch"]}'
    assert page.html.select_one('#flash').text == (
        f'Retried 1 step of workflow {ids["fetch"]}; the steps waiting for '
        f'them wait again.')
    assert reader.service().getStatus(ids['publish']) == 'waiting'
    page = page.forms['cancel-workflow-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text.startswith(
        'Cancelled 1 step of workflow')
    assert reader.service().getStatus(ids['publish']) == 'cancelled'
    assert page.html.select_one('#workflow-status').text == 'cancelled'


def test_the_workflows_page_to_those_who_only_read(client, reader):
    service = reader.service()
    ids = addFlow(service)
    alone = service.add('echo', 'x')
    reader.tm.commit()
    reading = login(client, READ_TOKEN)
    page = reading.get(f'/services/svc/workflows/{ids["fetch"]}')
    assert page.html.select_one('#workflow-actions') is None
    csrf = page.html.select_one('input[name=_csrf]')['value']
    reading.post(f'/services/svc/workflows/{ids["fetch"]}/cancel',
                 {'_csrf': csrf}, status=403)
    assert reader.service().getStatus(ids['fetch']) == 'queued'
    reading.get(f'/services/svc/workflows/{alone}', status=404)
    reading.get('/services/svc/workflows/424242', status=404)


def test_a_large_workflow_is_listed_not_drawn(browser, reader, monkeypatch):
    from lovely.remotetask.web import flowpages
    monkeypatch.setattr(flowpages, 'MOST_STEPS', 3)
    monkeypatch.setattr(flowpages, 'MOST_ROWS', 2)
    ids = addFlow(reader.service())
    reader.tm.commit()
    page = browser.get(f'/services/svc/workflows/{ids["fetch"]}')
    assert page.html.select_one('svg#workflow-graph') is None
    assert 'up to 3 steps; this one has 4' in page.html.select_one(
        '#no-graph').text
    assert len(page.html.select('#steps tbody tr')) == 2
    assert page.html.select_one('#more-steps').text == 'And 2 more steps.'


def test_graph_depths_end_on_stored_cycles():
    steps = [dict(name='a', after=['b']), dict(name='b', after=['a']),
             dict(name='c', after=[])]
    assert workflowgraph.depths(steps)['c'] == 0
    chain = [dict(name=str(n), after=[str(n - 1)] if n else [])
             for n in range(150)]
    assert workflowgraph.depths(list(reversed(chain)))['149'] == 149


def test_the_page_counts_queued_jobs_so_far(browser, reader, monkeypatch):
    """A count reads each job: the page stops at `QUEUE_COUNT_MOST` a
    channel, and says so, rather than read a long queue to its end."""
    monkeypatch.setattr(settings, 'QUEUE_COUNT_MOST', 3)
    remotetask.provideTask(lambda input: input, name='slow', concurrency=1)
    service = reader.service()
    for n in range(5):
        service.add('slow', n, queue='video')
    service.add('echo', 'x', queue='video')
    service.registerWorker('w', 60, serves=(('default',), ('echo',)))
    reader.tm.commit()
    page = browser.get('/services/svc')
    row = page.html.select_one('#queue-video')
    assert [td.text for td in row.select('td.count')] == ['3+', '0', '0']
    assert [p.text.split(':')[0] for p in page.html.select('.stranded')] == [
        '1 queued jobs of task echo in queue video',
        '3+ queued jobs of task slow in queue video']


def test_the_queues_of_a_service(browser, reader):
    remotetask.provideTask(lambda input: input, name='slow', concurrency=1)
    service = reader.service()
    first = service.add('slow', 1, queue='video')
    service.add('slow', 2, queue='video')
    service.registerWorker('w', 60, serves=(('video',), ('slow',)))
    assert [claim.jobid for claim in service.claim('w', 5)] == [first]
    service.add('echo', 'x')
    reader.tm.commit()
    page = browser.get('/services/svc?status=queued')
    rows = {tr['id']: [td.text.strip() for td in tr.select('td')[:6]]
            for tr in page.html.select('#queues tbody tr')}
    assert rows == {'queue-default': ['default', 'running', 'none', '1', '0',
                                      '0'],
                    'queue-video': ['video', 'running', 'none', '1', '1',
                                    '1']}
    limit = page.html.select_one('#limits tbody tr')
    assert [td.text for td in limit.select('td')] == [
        'task:slow', '1', '', '1', '0', '1']
    assert page.html.select_one('#stranded-0').text == (
        '1 queued jobs of task echo in queue default: no running worker '
        'takes them.')
    # Paused, back to the page as it was, and resumed.
    form = next(f for f in page.forms.values()
                if f.action == '/services/svc/queues/video/pause')
    response = form.submit(status=303)
    assert response.location == '/services/svc?status=queued'
    page = response.follow()
    assert page.html.select_one('#flash').text == (
        'Paused queue video: no worker starts its jobs until it is resumed.')
    assert page.html.select_one('#queue-video .state').text == 'paused'
    form = next(f for f in page.forms.values()
                if f.action == '/services/svc/queues/video/resume')
    form.submit(status=303)
    # Limited, and the limit taken off again.
    page = browser.get('/services/svc')
    form = next(f for f in page.forms.values()
                if f.action == '/services/svc/queues/video/limit')
    form['limit'] = '2'
    page = form.submit(status=303).follow()
    assert page.html.select_one('#flash').text == (
        'Queue video: at most 2 jobs at once.')
    assert page.html.select_one('#queue-video .limit').text == '2'
    form = next(f for f in page.forms.values()
                if f.action == '/services/svc/queues/video/limit')
    form['limit'] = ''
    page = form.submit(status=303).follow()
    assert page.html.select_one('#flash').text == 'Queue video: no limit.'
    queue = [q for q in reader.service().getQueues()
             if q['name'] == 'video'][0]
    assert (queue['paused'], queue['limit']) == (False, None)
    form = next(f for f in page.forms.values()
                if f.action == '/services/svc/queues/video/limit')
    form['limit'] = '-3'
    answer = form.submit(status=400)
    assert "not '-3'" in answer.text


def test_the_queue_buttons_need_the_manage_right(client, reader):
    reading = login(client, READ_TOKEN)
    page = reading.get('/services/svc')
    assert page.html.select('#queues form') == []
    assert page.html.select_one('#queue-default .state').text == 'running'
    csrf = page.html.select_one('input[name=_csrf]')['value']
    reading.post('/services/svc/queues/default/pause', {'_csrf': csrf},
                 status=403)
    assert not reader.service().getQueues()[0]['paused']


def test_facts_of_a_step(browser, reader):
    ids = addFlow(reader.service())
    reader.tm.commit()
    page = browser.get(f'/services/svc/jobs/{ids["build"]}')
    assert facts(page)['Workflow'] == f'workflow {ids["fetch"]} (release)'
