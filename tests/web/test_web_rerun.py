"""A job run again does not show its last attempt's end time and error as
current (issue 29), on its page, in the jobs table, in the API and in
``remotetask show``: the history has them."""
import pytest
import transaction

from conftest import MANAGE, MANAGE_TOKEN
from lovely import remotetask
from lovely.remotetask.cli import main


@pytest.fixture
def retried(db):
    """A job of ``svc`` that failed and was retried by hand."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    jobid = service.add('fail', 'once')
    tm.commit()
    service.processNext()
    tm.commit()
    assert service.jobs[jobid].error == 'failed: once'
    service.retry(jobid)
    tm.commit()
    connection.close()
    return jobid


def test_the_faces_show_the_last_attempt_in_the_history_only(
        client, retried):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    page = client.get(f'/services/svc/jobs/{retried}')
    facts = [dt.text for dt in page.html.select('#facts dt')]
    assert 'Created' in facts
    assert 'Ended' not in facts and 'Started' not in facts
    assert page.html.select_one('#error') is None
    attempt = page.html.select_one('#attempt-0')
    assert 'failed: once' in attempt.select_one('.outcome').text
    assert attempt.select('td.time')[1].text.startswith('20')  # ended
    row = client.get('/services/svc').html.select_one(
        f'#jobs tr[data-job="{retried}"]')
    assert 'failed: once' not in row.text
    job = client.get(f'/api/services/svc/jobs/{retried}', headers=MANAGE).json
    assert (job['status'], job['error'], job['started'],
            job['completed']) == ('queued', None, None, None)
    assert [one['error'] for one in job['history']] == ['failed: once']


def test_show_prints_the_last_attempt_in_the_history_only(
        db, retried, capsys):
    uri = f'file://{db.storage.getName()}'
    db.close()
    assert main(['show', '--db', uri, '--service', 'svc',
                 str(retried)]) == 0
    out = capsys.readouterr().out
    labels = [line.split(':')[0] for line in out.splitlines()]
    assert 'error' not in labels and 'finished' not in labels
    assert out.count('failed: once') == 1     # in the attempts table
