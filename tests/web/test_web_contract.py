"""The JSON API keeps its own OpenAPI contract: schemathesis, with all its
checks, stateful where the document's links lead, for about a minute
against a real waitress server of the application, with a manage token.

It fails on a server error, an answer off the document (status, headers,
body), a change accepted without credentials or with the read token
(`contracthooks`), and a schema-valid request refused, but for the rules
the document can only say in words (see `contracthooks.unstateable`).
"""
import json
import os
import subprocess
import sys
import threading
import time

import transaction

from conftest import LiveServer, MANAGE_TOKEN, READ_TOKEN
from lovely import remotetask
from lovely.remotetask import web

HERE = os.path.dirname(os.path.abspath(__file__))

#: Seconds schemathesis runs: long enough to reach every operation in each
#: phase, short enough for the test command.
MAX_TIME = 60


class Counting:
    """The application, counting the requests it answers."""

    def __init__(self, app):
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)


def jobsToWorkOn(db):
    """A job of each kind, for the operations that need one."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    service.add('echo', 'queued')
    service.add('echo', 'later', startLater=True)
    service.add('fail', 'fails')
    service.addCronJob('echo', 'cron', minute=(5,))
    service.addCronJob('echo', 'delayed', delay=3600)
    service.process()
    tm.commit()
    connection.close()


def test_the_api_keeps_its_openapi_contract(db, tmp_path):
    jobsToWorkOn(db)
    app = Counting(web.makeApp(db, credentials=web.Credentials(
        manage=[MANAGE_TOKEN], read=[READ_TOKEN])))
    server = LiveServer(app)
    report = os.path.join(tmp_path, 'report.json')
    env = dict(os.environ, SCHEMATHESIS_HOOKS='contracthooks',
               CONTRACT_READ_TOKEN=READ_TOKEN,
               PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH',
                                                             ''))
    started = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, '-m', 'schemathesis.cli', 'run',
             f'{server.url}/api/openapi.json',
             '--checks', 'all', '--exclude-checks',
             'positive_data_acceptance',
             '--header', f'Authorization: Bearer {MANAGE_TOKEN}',
             '--max-time', str(MAX_TIME), '--workers', '1',
             '--seed', '20261204', '--report', 'json',
             '--report-json-path', report, '--output-truncate', 'false'],
            capture_output=True, text=True, env=env, cwd=str(tmp_path),
            timeout=MAX_TIME + 120)
    finally:
        server.close()
    took = time.monotonic() - started
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20000:]
    with open(report) as f:
        summary = json.load(f)
    operations = summary['operations']
    assert operations['tested'] == operations['total'] == 37, operations
    assert {name: phase['status'] for name, phase in
            summary['phases'].items() if name != 'examples'} == \
        dict(coverage='success', fuzzing='success', stateful='success')
    assert app.count > 1000, app.count
    print(f'\nschemathesis: {app.count} requests in {took:.0f} s, '
          f'{summary["test_cases"]["generated"]} test cases')
