"""The parts of the dashboard that follow the services (live.json), and
the jobs finished per hour (the API's /activity/hours, the history
chart)."""
import bs4
import pytest

from conftest import MANAGE_TOKEN, READ
from lovely.remotetask.web import settings


@pytest.fixture
def browser(client):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    return client


def part(data, name):
    return bs4.BeautifulSoup(data['parts'][name], 'html.parser')


def test_a_service_pages_parts_follow_it(browser, reader):
    data = browser.get('/services/svc/live.json').json
    assert sorted(data['parts']) == sorted([
        'status-tabs', 'queue', 'last-hour', 'activity-chart',
        'workers-panel', 'history-chart'])
    assert data['summary']['counts']['completed'] == 0
    assert part(data, 'status-tabs').select_one(
        '#tab-completed .count').text == '0'
    assert part(data, 'workers-panel').select_one('#no-workers')
    service = reader.service()
    service.registerWorker('w1', 60.0)
    service.add('echo', 1)
    service.add('fail', 2)
    service.add('echo', 3)
    service.process()
    service.drain()
    service.add('echo', 4)
    reader.tm.commit()
    data = browser.get('/services/svc/live.json').json
    tabs = part(data, 'status-tabs')
    assert [tabs.select_one(f'#tab-{s} .count').text
            for s in ('all', 'completed', 'error', 'queued')] == [
        '4', '2', '1', '1']
    assert part(data, 'queue').select_one('strong').text == '1'
    assert part(data, 'last-hour').text.split()[:4] == [
        '2', 'completed,', '1', 'failed,']
    chart = part(data, 'activity-chart')
    assert len(chart.select('g.minute')) == 60
    assert len(chart.select('rect.completed')) in (1, 2)    # (a minute's
    # end may fall between the jobs)
    assert part(data, 'workers-panel').select_one('td.worker-id').text == \
        'w1'
    history = part(data, 'history-chart')
    assert len(history.select('g.hour')) == 24
    assert history.select('rect.completed') and history.select(
        'rect.failed')


def test_the_parts_keep_the_pages_state_and_the_charts_choice(
        browser, reader):
    data = browser.get('/services/svc/live.json?status=queued&limit=5'
                       '&chartHours=168&chartTask=fail').json
    tabs = part(data, 'status-tabs')
    assert 'current' in tabs.select_one('#tab-queued')['class']
    assert tabs.select_one('#tab-error')['href'] == \
        '/services/svc?status=error&limit=5'
    history = part(data, 'history-chart')
    assert len(history.select('g.hour')) == 168
    assert history.select_one('title').text == (
        'Jobs of task fail completed and failed per hour, last 7 days (UTC)')
    page = browser.get('/services/svc?chartHours=168&chartTask=fail')
    assert page.html.select_one('#history-hours option[selected]')[
        'value'] == '168'
    assert page.html.select_one('#history-task option[selected]')[
        'value'] == 'fail'
    assert page.html.select_one('#overview')['data-live-url'] == (
        '/services/svc/live.json?chartHours=168&chartTask=fail')
    for bad in ('chartHours=0', 'chartHours=169', 'chartHours=x',
                'status=nope'):
        browser.get(f'/services/svc/live.json?{bad}', status=400)
    browser.get('/services/nosuch/live.json', status=404)


def test_the_home_pages_rows_follow_the_services(browser, reader):
    data = browser.get('/live.json').json
    assert sorted(data['parts']) == ['service-site1.mail', 'service-svc']
    service = reader.service()
    service.add('echo', 1)
    service.pause()
    reader.tm.commit()
    data = browser.get('/live.json').json
    row = part(data, 'service-svc')
    assert row.select_one('td.status-queued').text == '1'
    assert row.select_one('td.state').text == 'paused'
    assert row.select_one('button').text == 'Resume'
    assert data['summaries']['svc']['counts']['queued'] == 1
    assert browser.get('/').html.select_one('#services')[
        'data-live-url'] == '/live.json'


def test_the_parts_need_the_read_right(client):
    client.get('/services/svc/live.json', status=303)


def test_jobs_finished_per_hour_in_the_api(client, reader):
    service = reader.service()
    for n in range(3):
        service.add('echo', n)
    service.add('fail', 'x')
    service.process()
    service.drain()
    reader.tm.commit()
    answer = client.get('/api/services/svc/activity/hours?hours=5',
                        headers=READ).json
    hours = answer['hours']
    assert answer['task'] is None and len(hours) == 5
    assert [h['start'] for h in hours] == sorted(h['start'] for h in hours)
    assert hours[-1]['start'] % 3600 == 0
    total = {status: sum(h[status] for h in hours)
             for status in ('completed', 'error', 'cancelled')}
    assert total == dict(completed=3, error=1, cancelled=0)
    answer = client.get('/api/services/svc/activity/hours?task=fail',
                        headers=READ).json
    assert answer['task'] == 'fail' and len(answer['hours']) == 24
    assert sum(h['error'] + h['completed'] for h in answer['hours']) == 1
    for bad in ('hours=0', 'hours=169', 'hours=x', 'hours=',
                'task=' + 'x' * (settings.MAX_FIELD_LENGTH + 1)):
        error = client.get(f'/api/services/svc/activity/hours?{bad}',
                           headers=READ, status=400).json
        assert error['error'].startswith(bad.split('=')[0])
    client.get('/api/services/nosuch/activity/hours', headers=READ,
               status=404)
