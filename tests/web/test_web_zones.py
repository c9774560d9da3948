"""Times say their zone everywhere (issue 29): a cron job in Europe/Vienna
showed "Next run 01:30:00", which was UTC, without saying so."""
import re

import pytest
import transaction

from conftest import MANAGE_TOKEN
from lovely import remotetask
from lovely.remotetask.cli import main
from lovely.remotetask.serialize import zonedTime

#: A run at 01:30 in Vienna: 00:30 UTC in winter, 23:30 the day before
#: in summer (then with the UTC date, which differs).
VIENNA = re.compile(r'\d{4}-\d\d-\d\d 01:30:00 Europe/Vienna '
                    r'\((\d{4}-\d\d-\d\d 23|00):30:00 UTC\)')


def test_zoned_time_says_the_zone():
    assert zonedTime(None) == ''
    assert zonedTime(0) == '1970-01-01 00:00:00 UTC'
    assert zonedTime(0, 'UTC') == '1970-01-01 00:00:00 UTC'
    assert zonedTime(0, 'Europe/Vienna') == \
        '1970-01-01 01:00:00 Europe/Vienna (00:00:00 UTC)'
    # Another date there: the UTC time says its date too.
    assert zonedTime(0, 'America/New_York') == \
        '1969-12-31 19:00:00 America/New_York (1970-01-01 00:00:00 UTC)'
    assert zonedTime(1e300, 'Europe/Vienna') == \
        'after 9999-12-31 23:59:59 UTC'
    # A zone that no longer loads still gives the time, in UTC.
    assert zonedTime(0, 'Nowhere/Atlantis') == '1970-01-01 00:00:00 UTC'


@pytest.fixture
def zoned(db):
    """A cron job at 01:30 in Vienna, and a job that failed, in ``svc``."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    cron = service.addCronJob('echo', 'nightly', cron='30 1 * * *',
                              timezone='Europe/Vienna')
    plain = service.add('echo', 'x')
    tm.commit()
    service.promote()
    tm.commit()
    connection.close()
    return cron, plain


def test_the_job_page_says_the_zones(client, zoned):
    cron, plain = zoned
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    page = client.get(f'/services/svc/jobs/{cron}')
    assert VIENNA.fullmatch(page.html.select_one('#fact-next-run').text)
    assert page.html.select_one('#fact-created').text.endswith(' UTC')
    assert VIENNA.search(page.html.select_one('#detail').text)
    listing = client.get('/services/svc')
    assert VIENNA.search(listing.text)
    assert listing.html.select_one('#sort-created').text.strip() == \
        'created (UTC)'
    page = client.get(f'/services/svc/jobs/{plain}')
    assert page.html.select_one('#fact-created').text.endswith(' UTC')


def test_the_commands_say_the_zones(db, zoned, capsys):
    cron, plain = zoned
    uri = f'file://{db.storage.getName()}'
    db.close()
    assert main(['show', '--db', uri, '--service', 'svc', str(cron)]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(':', 1) for line in out.splitlines()
                 if ':' in line)
    assert VIENNA.fullmatch(lines['next run'].strip())
    assert lines['created'].strip().endswith(' UTC')
