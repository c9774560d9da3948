"""What a job changed, and its undo, in the JSON API and on the job page
(issue 29); the service's side is in tests/test_changes.py."""
import persistent
import pytest
import zope.component

from conftest import MANAGE, MANAGE_TOKEN, READ, READ_TOKEN
from lovely import remotetask
from lovely.remotetask.task import SimpleTask


class Note(persistent.Persistent):
    __parent__ = __name__ = None

    def __init__(self, text):
        self.text = text


class Edit(SimpleTask):
    def __call__(self, service, jobid, input):
        service.__parent__['notes']['a'].text = input


@pytest.fixture
def edited(reader):
    """A completed job that changed the note notes/a, and the notes."""
    zope.component.provideUtility(Edit(lambda input: None), name='edit')
    service = reader.service()
    notes = service.__parent__['notes'] = remotetask.Folder()
    notes['a'] = Note('before')
    reader.tm.commit()
    service = reader.service()
    jobid = service.add('edit', 'after')
    service.process()
    reader.tm.commit()
    return jobid


def login(client, token):
    client.get(f'/login?token={token}', status=303)
    return client


def test_a_job_tells_what_it_changed_and_undo_puts_it_back(
        client, reader, edited):
    url = f'/api/services/svc/jobs/{edited}'
    [changes] = client.get(url, headers=READ).json['changes']
    assert changes['attempt'] == 1 and changes['more'] == 0
    assert changes['undone'] is None
    assert [(o['class'], o['path']) for o in changes['objects']] == [
        ('test_web_changes.Note', 'notes/a')]
    client.post(url + '/undo', headers=READ, status=403)
    assert reader.service().__parent__['notes']['a'].text == 'after'
    data = client.post(url + '/undo', headers=MANAGE).json
    assert data['status'] == 'completed'
    assert data['changes'][0]['undone'] is not None
    assert reader.service().__parent__['notes']['a'].text == 'before'
    again = client.post(url + '/undo', headers=MANAGE, status=409).json
    assert again['error'] == f'job {edited} attempt 1 was undone already'


def test_undo_after_a_later_change_is_409_and_says_why(
        client, reader, edited):
    reader.service().__parent__['notes']['a'].text = 'by hand'
    reader.tm.commit()
    error = client.post(f'/api/services/svc/jobs/{edited}/undo',
                        headers=MANAGE, status=409).json['error']
    assert error.startswith(f'job {edited} cannot be undone: notes/a (oid ')
    assert 'was changed by a later transaction' in error
    assert reader.service().__parent__['notes']['a'].text == 'by hand'


def test_the_job_page_lists_the_changes_and_undoes_them(
        client, reader, edited):
    browser = login(client, MANAGE_TOKEN)
    page = browser.get(f'/services/svc/jobs/{edited}')
    rows = page.html.select('#changes table.changes tbody tr')
    assert [row.select_one('.path').text for row in rows] == ['notes/a']
    assert rows[0].select_one('.class').text == 'test_web_changes.Note'
    form = page.html.select_one('#undo-form')
    csrf = form.select_one('input[name=_csrf]')['value']
    browser.post(f'/services/svc/jobs/{edited}/undo', status=403)
    assert reader.service().__parent__['notes']['a'].text == 'after'
    page = browser.post(f'/services/svc/jobs/{edited}/undo',
                        {'_csrf': csrf}, status=303).follow()
    assert 'Undid job' in page.text and '1 object put back' in page.text
    assert page.html.select_one('#undo-form') is None
    assert 'undone at' in page.html.select_one('#changes').text
    assert reader.service().__parent__['notes']['a'].text == 'before'


def test_readers_see_the_changes_but_no_undo(client, edited):
    page = login(client, READ_TOKEN).get(f'/services/svc/jobs/{edited}')
    assert page.html.select('#changes table.changes tbody tr')
    assert page.html.select_one('#undo-form') is None
