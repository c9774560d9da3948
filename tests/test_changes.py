"""What a job changed, and undoing it (issue 29): the list is taken from
the task's transaction, and the undo restores the application's objects
alone, refused when a later transaction changed one of them."""
import time

import persistent
import pytest
import transaction
import zope.component
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from lovely import remotetask
from lovely.remotetask.runtime import changes
from lovely.remotetask.task import SimpleTask
from services import newService, waitForStatus


class Note(persistent.Persistent):
    __parent__ = __name__ = None

    def __init__(self, text):
        self.text = text


class Edit(SimpleTask):
    """Sets the text of the notes named in the input; 'new' adds one."""

    def __call__(self, service, jobid, input):
        notes = service.__parent__['notes']
        for name, text in input.items():
            if name == 'new':
                notes[text] = Note(text)
            else:
                notes[name].text = text
        return sorted(input)


@pytest.fixture(autouse=True)
def edit():
    zope.component.provideUtility(Edit(lambda input: None), name='edit')


def withNotes(app, *names):
    app['notes'] = remotetask.Folder()
    for name in names:
        app['notes'][name] = Note(name)
    transaction.commit()
    return app['notes']


def objects(service, jobid):
    return {(change['class'], change['path'])
            for change in service.getChanges(jobid)[-1]['objects']}


def test_a_processor_lists_and_undoes_what_a_job_changed(app):
    """Over FileStorage, ZEO and RelStorage: the job's transaction listed
    the note it changed, and undo puts the text back, the job left
    completed; a second undo is refused."""
    notes = withNotes(app, 'a', 'b')
    service = newService(app)
    jobid = service.add('edit', {'a': 'changed'})
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobid)
    service.stopProcessing()
    transaction.commit()
    assert notes['a'].text == 'changed'
    assert objects(service, jobid) == {('test_changes.Note', 'notes/a')}
    [attempt] = service.getChanges(jobid)
    assert attempt['attempt'] == 1 and attempt['more'] == 0
    assert attempt['objects'][0]['oid'].startswith('0x')
    assert service.undoJob(jobid) == 1
    transaction.commit()
    assert notes['a'].text == 'a' and notes['b'].text == 'b'
    assert service.getStatus(jobid) == 'completed'
    assert service.getChanges(jobid)[-1]['undone'] is not None
    with pytest.raises(remotetask.UndoRefusedError, match='undone already'):
        service.undoJob(jobid)


def test_undo_is_refused_after_a_later_change_of_the_same_object(app):
    notes = withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('edit', {'a': 'by the job'})
    transaction.commit()
    service.processNext()
    transaction.commit()
    notes['a'].text = 'by a person'
    transaction.commit()
    with pytest.raises(remotetask.UndoRefusedError,
                       match=r'notes/a \(oid 0x.*\) was changed by a later '
                             r'transaction'):
        service.undoJob(jobid)
    transaction.abort()
    assert notes['a'].text == 'by a person'
    assert service.getChanges(jobid)[-1]['undone'] is None


def test_unrelated_later_jobs_do_not_stop_an_undo(db):
    """The store's own objects are left out of the list and of the undo:
    later jobs that wrote them do not stand in its way."""
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    notes = withNotes(app, 'a', 'b')
    service = newService(app)
    first = service.add('edit', {'a': 'one', 'new': 'c'})
    transaction.commit()
    service.processNext()
    transaction.commit()
    later = service.add('edit', {'b': 'two'})
    transaction.commit()
    service.processNext()
    transaction.commit()
    assert objects(service, first) == {
        ('test_changes.Note', 'notes/a'),
        ('BTrees.OOBTree.OOBTree', None)}     # the folder's items: c added
    assert service.undoJob(first) == 2
    transaction.commit()
    assert notes['a'].text == 'a' and 'c' not in notes
    assert notes['b'].text == 'two'
    assert service.getStatus(later) == 'completed'
    connection.close()


def test_undo_is_refused_once_a_pack_dropped_the_state_before(db):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    notes = withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('edit', {'a': 'x'})
    service.process()
    transaction.commit()
    db.pack(time.time() + 1)
    with pytest.raises(remotetask.UndoRefusedError,
                       match=r'the state of notes/a \(oid 0x.*\) before it '
                             r'is gone \(the database was packed since\)'):
        service.undoJob(jobid)
    transaction.abort()
    assert notes['a'].text == 'x'
    connection.close()


def test_undo_is_refused_once_a_pack_removed_an_object(db):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    notes = withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('edit', {'a': 'x'})
    service.process()
    transaction.commit()
    del notes['a']
    transaction.commit()
    db.pack(time.time() + 1)
    with pytest.raises(remotetask.UndoRefusedError,
                       match=r'notes/a \(oid 0x.*\) is no longer in the '
                             r'database \(a pack removed it\)'):
        service.undoJob(jobid)
    transaction.abort()
    connection.close()


class AddByHand(SimpleTask):
    def __call__(self, service, jobid, input):
        note = Note('made')
        service._p_jar.add(note)
        service.__parent__['notes']['made'] = note


def test_objects_added_by_hand_are_listed_new_and_left_at_undo(db):
    zope.component.provideUtility(AddByHand(lambda input: None), name='add')
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    notes = withNotes(app)
    service = newService(app)
    jobid = service.add('add')
    service.process()
    transaction.commit()
    listed = service.getChanges(jobid)[-1]['objects']
    assert sorted((o['class'], o['path'], o['new']) for o in listed) == [
        ('BTrees.OOBTree.OOBTree', None, False),
        ('test_changes.Note', 'notes/made', True)]
    assert service.undoJob(jobid) == 1
    transaction.commit()
    assert 'made' not in notes
    connection.close()


def test_a_job_that_wrote_nothing_has_nothing_to_undo(db):
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    withNotes(app)
    service = newService(app)
    jobid = service.add('edit', {})
    transaction.commit()
    service.processNext()
    transaction.commit()
    assert service.getChanges(jobid) == ()
    with pytest.raises(remotetask.UndoRefusedError,
                       match='changed no objects'):
        service.undoJob(jobid)
    connection.close()


def test_undo_is_refused_without_history():
    db = DB(MappingStorage())
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('edit', {'a': 'x'})
    transaction.commit()
    service.processNext()
    transaction.commit()
    assert objects(service, jobid) == {('test_changes.Note', 'notes/a')}
    with pytest.raises(remotetask.UndoRefusedError,
                       match='keeps no history'):
        service.undoJob(jobid)
    transaction.abort()
    connection.close()
    db.close()


def test_the_list_is_capped(db, monkeypatch):
    monkeypatch.setattr(changes, 'MAX_CHANGES', 2)
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    withNotes(app, 'a', 'b', 'c', 'd')
    service = newService(app)
    jobid = service.add('edit', dict.fromkeys('abcd', 'x'))
    transaction.commit()
    service.processNext()
    transaction.commit()
    [attempt] = service.getChanges(jobid)
    assert len(attempt['objects']) == 2 and attempt['more'] == 2
    with pytest.raises(remotetask.UndoRefusedError,
                       match='changed 4 objects, more than the 2'):
        service.undoJob(jobid)
    connection.close()


def test_paths_are_found_in_bounded_steps():
    class Loop:
        __name__ = 'x'
    loop = Loop()
    loop.__parent__ = loop
    assert changes.pathOf(loop).startswith('.../x/x')
    assert changes.pathOf(object()) is None


@pytest.fixture
def app(anyDb):
    connection = anyDb.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()


def test_remotetask_show_tells_what_a_job_changed(tmp_path, capsys):
    import json
    from lovely.remotetask.cli import main
    uri = f'file://{tmp_path}/Data.fs'
    db = remotetask.openDatabase(uri)
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('edit', {'a': 'x'})
    service.process()
    transaction.commit()
    oid = service.getChanges(jobid)[0]['objects'][0]['oid']
    connection.close()
    db.close()
    assert main(['show', '--db', uri, '--service', 'svc', str(jobid)]) == 0
    out = capsys.readouterr().out
    assert '\nchanged by attempt 1:\n  notes/a' in out
    assert f'test_changes.Note  {oid}' in out
    main(['show', '--db', uri, '--service', 'svc', str(jobid), '--json'])
    [changed] = json.loads(capsys.readouterr().out)['changes']
    assert changed['objects'] == [{'class': 'test_changes.Note', 'oid': oid,
                                   'path': 'notes/a', 'new': False}]


def test_undone_marks_the_newest_changes_of_an_attempt_only():
    """The runs of a cron job all count as attempt 1."""
    from lovely.remotetask.store.jobs import Job
    job = Job(1, 'edit', None)
    for run in ('0x01', '0x02'):
        job.recordChanges(1, [('test_changes.Note', run, None)], 0)
    job.markUndone(1, 5.0)
    assert [(entry['objects'][0]['oid'], entry['undone'])
            for entry in job.changes] == [('0x01', None), ('0x02', 5.0)]


def test_in_place_lists_only_what_each_task_wrote(db):
    """Jobs run in the caller's transaction, one after another: each lists
    its own writes, not the caller's nor the job's before it."""
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    notes = withNotes(app, 'a', 'b', 'c')
    service = newService(app)
    first = service.add('edit', {'a': 'x'})
    second = service.add('edit', {'b': 'y'})
    notes['c'].text = 'by the caller'
    service.process()
    transaction.commit()
    assert objects(service, first) == {('test_changes.Note', 'notes/a')}
    assert objects(service, second) == {('test_changes.Note', 'notes/b')}
    connection.close()


class Unstorable(SimpleTask):
    def __call__(self, service, jobid, input):
        service.__parent__['notes']['a'].text = 'x'
        return lambda: None


def test_a_result_that_cannot_be_stored_still_lists_the_writes(db):
    """The job fails, but its task's writes commit with that record: they
    are listed; undo is for completed jobs."""
    zope.component.provideUtility(Unstorable(lambda input: None),
                                  name='unstorable')
    connection = db.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    withNotes(app, 'a')
    service = newService(app)
    jobid = service.add('unstorable')
    service.process()
    transaction.commit()
    assert service.getStatus(jobid) == 'error'
    assert objects(service, jobid) == {('test_changes.Note', 'notes/a')}
    with pytest.raises(remotetask.UndoRefusedError,
                       match='is error: only a completed job'):
        service.undoJob(jobid)
    connection.close()
