"""`remotetask add --tag`, and `remotetask jobs --tag --search` (issue
29), in this process on a FileStorage."""
import json
import subprocess

import pytest
import zope.component

from lovely.remotetask.cli import main
from workerapp import tasks


@pytest.fixture(autouse=True)
def append():
    zope.component.provideUtility(tasks.Append(), name='append')


@pytest.fixture
def command(capsys, fileUri):
    def call(name, *args):
        args = [name, '--db', fileUri, '--service', 'site1.mail', *args]
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return call


def listed(command, *args):
    page = json.loads(command('jobs', '--json', *args).stdout)
    return [job['id'] for job in page['jobs']]


def test_add_with_tags_and_list_by_tag_and_words(command):
    first = int(command('add', 'append', '{"customer": "ACME"}',
                        '--start-later', '--tag', 'eu', '--tag',
                        'vip').stdout)
    second = int(command('add', 'append', '{"customer": "Globex"}',
                         '--start-later', '--tag', 'eu').stdout)
    page = json.loads(command('jobs', '--json').stdout)
    assert page['jobs'][1]['tags'] == ['eu', 'vip']
    assert listed(command, '--tag', 'eu') == [second, first]
    assert listed(command, '--tag', 'vip') == [first]
    assert listed(command, '--search', 'glob') == [second]
    assert listed(command, '--search', 'customer acme') == [first]
    text = command('jobs', '--tag', 'vip').stdout
    assert text.splitlines()[1].endswith(' #eu #vip')


@pytest.mark.parametrize('args, message', [
    (('add', 'append', '--tag', 'a b'), 'without whitespace or commas'),
    (('jobs', '--search', '!!'), 'search must have a word'),
])
def test_bad_tags_and_searches_exit_2(command, args, message):
    result = command(*args)
    assert result.returncode == 2
    assert message in result.stderr
