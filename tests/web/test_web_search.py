"""Tags and search in the Web service (issue 29): added through the JSON
API, shown in its job data and on the dashboard, and filtering the JSON
listing, the dashboard's jobs page and the actions on every match."""
import pytest
import transaction

from conftest import MANAGE, MANAGE_TOKEN, READ
from lovely import remotetask


@pytest.fixture
def tagged(db):
    """In ``svc``: three echo jobs of customers, tagged, and a failed job
    tagged ``eu``; drained, so that the index has them."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    ids = dict(
        acme=service.add('echo', {'customer': 'ACME'}, tags=['eu', 'vip']),
        globex=service.add('echo', {'customer': 'Globex'}, tags=['us']),
        initech=service.add('echo', {'customer': 'Initech'},
                            tags=['eu'], startLater=True),
        failed=service.add('fail', 'acme-7', tags=['eu']))
    service.process()
    service.drain()
    tm.commit()
    connection.close()
    return ids


def listed(client, query):
    answer = client.get('/api/services/svc/jobs?' + query, headers=READ)
    return [job['id'] for job in answer.json['jobs']]


def test_the_api_adds_tags_and_shows_them(client):
    answer = client.post_json('/api/services/svc/jobs', dict(
        task='echo', input='hi', tags=['nightly', 'batch-7']),
        headers=MANAGE, status=201)
    assert answer.json['tags'] == ['nightly', 'batch-7']
    jobid = answer.json['id']
    got = client.get(f'/api/services/svc/jobs/{jobid}', headers=READ)
    assert got.json['tags'] == ['nightly', 'batch-7']
    for wrong in (['no good'], ['a,b'], [''], 'nightly', [3], {},
                  ['a\x1cb'],
                  [f't{n}' for n in range(17)]):
        client.post_json('/api/services/svc/jobs', dict(
            task='echo', tags=wrong), headers=MANAGE, status=400)
    client.post_json('/api/services/svc/jobs', dict(
        task='echo', delay=60, tags=['x']), headers=MANAGE, status=400)


def test_the_api_lists_by_tag_and_words(client, tagged):
    assert listed(client, 'tag=eu') == [
        tagged['failed'], tagged['initech'], tagged['acme']]
    assert listed(client, 'q=acme') == [tagged['failed'], tagged['acme']]
    assert listed(client, 'q=acm&tag=vip') == [tagged['acme']]
    assert listed(client, 'q=customer&status=completed') == [
        tagged['globex'], tagged['acme']]
    assert listed(client, 'tag=nothing') == []
    answer = client.get('/api/services/svc/jobs?tag=eu&limit=1',
                        headers=READ)
    assert 'tag=eu' in answer.json['nextUrl']
    following = client.get(answer.json['nextUrl'], headers=READ)
    assert [job['id'] for job in following.json['jobs']] == [
        tagged['initech']]
    client.get('/api/services/svc/jobs?q=' + 'w' * 201, headers=READ,
               status=400)


def test_the_api_acts_on_the_jobs_matching_a_tag(client, reader, tagged):
    answer = client.post_json('/api/services/svc/jobs/delete', {
        'tag': 'eu'}, headers=MANAGE)
    assert answer.json == {'deleted': 2}       # acme and failed: finished
    assert set(reader.service().jobs) == {tagged['globex'],
                                          tagged['initech']}
    answer = client.post_json('/api/services/svc/jobs/cancel', {
        'q': 'initech'}, headers=MANAGE)
    assert answer.json == {'cancelled': 1}
    client.post_json('/api/services/svc/jobs/cancel', {'tag': 3},
                     headers=MANAGE, status=400)


def login(client):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)


def test_the_dashboard_filters_by_tag_and_words(client, tagged):
    login(client)
    page = client.get('/services/svc')
    form = page.forms['filter']
    form['tag'] = 'eu'
    form['q'] = 'acme'
    page = form.submit()
    shown = [int(row['data-job'])
             for row in page.html.select('#jobs tbody tr[data-job]')]
    assert shown == [tagged['failed'], tagged['acme']]
    assert page.forms['matching-form']['tag'].value == 'eu'
    assert page.forms['matching-form']['q'].value == 'acme'
    row = page.html.select_one(f'#job-{tagged["acme"]}')
    assert [a.text for a in row.select('.tags a')] == ['eu', 'vip']
    following = client.get(row.select('.tags a')[1]['href'])
    assert [int(row['data-job']) for row in following.html.select(
        '#jobs tbody tr[data-job]')] == [tagged['acme']]
    confirm = page.forms['matching-form'].submit('action', value='delete')
    assert confirm.html.select_one('#matching-count').text == '2'
    assert 'tag eu and words "acme"' in confirm.html.select_one(
        '#matching-question').text
    done = confirm.forms['matching-confirm-form'].submit().follow()
    assert 'Deleted 2 jobs' in done.html.select_one('#flash').text


def test_the_job_page_shows_its_tags(client, tagged):
    login(client)
    page = client.get(f'/services/svc/jobs/{tagged["acme"]}')
    facts = page.html.select_one('#facts')
    links = [a for a in facts.select('a') if a.text in ('eu', 'vip')]
    assert [a.text for a in links] == ['eu', 'vip']
    assert links[0]['href'].endswith('/services/svc?tag=eu')
