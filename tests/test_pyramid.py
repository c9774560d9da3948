"""The Pyramid example application in a real server (pserve and
waitress, in a process of its own), with pyramid_tm, pyramid_retry and
pyramid_zodbconn: a request that fails after add() leaves no job, a
request retried after a conflict adds its job once, committed jobs
complete in the application's process, and later requests see what they
wrote."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import servers
from lovely.remotetask import testing

pytest.importorskip('pyramid_zodbconn')

EXAMPLE = os.path.join(os.path.dirname(servers.HERE), 'examples',
                       'pyramid_tasks')
TOKEN = 'pyramid-manage-token'


class Server:

    def __init__(self, directory):
        shutil.copytree(EXAMPLE, directory)
        self.directory = directory
        self.port = servers.freePort()
        ini = os.path.join(directory, 'development.ini')
        with open(ini) as f:
            text = f.read()
        with open(ini, 'w') as f:
            f.write(re.sub(r'listen = .*', f'listen = 127.0.0.1:{self.port}',
                           text))
        env = dict(os.environ, PYTHONPATH=directory,
                   REMOTETASK_MANAGE_TOKEN=TOKEN)
        self.log = open(os.path.join(directory, 'server.log'), 'wb')
        pserve = os.path.join(os.path.dirname(sys.executable), 'pserve')
        self.process = subprocess.Popen(
            [pserve, ini], cwd=directory, env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        testing.waitUntil(lambda: self.process.poll() is None and
                          servers.accepts(self.port), timeout=60,
                          interval=0.05)

    def output(self):
        with open(os.path.join(self.directory, 'server.log')) as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.log.close()
        return code

    def call(self, path, data=None, token=None):
        """(status, JSON body) of a request."""
        headers = {'Content-Type': 'application/json'}
        if token:
            headers['Authorization'] = f'Bearer {token}'
        request = urllib.request.Request(
            f'http://127.0.0.1:{self.port}{path}', headers=headers,
            data=None if data is None else json.dumps(data).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    running = Server(str(tmp_path_factory.mktemp('pyramid') / 'app'))
    yield running
    running.stop()


def waitForJob(server, jobid):
    found = {}

    def done():
        found.update(server.call(f'/jobs/{jobid}')[1])
        return found['status'] in ('completed', 'error')

    testing.waitUntil(done, timeout=30, interval=0.05)
    return found


def test_a_committed_add_completes_and_later_requests_see_it(server):
    assert 'service tasks on site root started' in server.output()
    status, job = server.call('/notes/first', dict(text='hello'))
    assert status == 200 and job['status'] == 'queued'
    assert waitForJob(server, job['id'])['result'] == 'HELLO'
    assert server.call('/notes/first') == (
        200, dict(name='first', text='HELLO'))


def test_a_request_that_fails_after_add_leaves_no_job(server):
    before = server.call('/jobs')[1]['jobs']
    status, body = server.call('/notes/second/fail', dict())
    assert status == 500
    assert server.call('/jobs')[1]['jobs'] == before
    assert server.call('/notes/second')[0] == 404


def test_a_retried_request_adds_its_job_once(server):
    before = server.call('/jobs')[1]['jobs']
    status, job = server.call('/notes/third/conflict', dict(text='again'))
    assert status == 200 and job['attempt'] == 1
    assert server.call('/jobs')[1]['jobs'] == sorted(before + [job['id']])
    assert waitForJob(server, job['id'])['status'] == 'completed'
    assert server.call('/notes/third')[1]['text'] == 'AGAIN'


def test_the_web_service_is_mounted(server):
    status, data = server.call('/remotetask/api/services', token=TOKEN)
    assert status == 200
    [service] = data['services']
    assert service['id'] == 'tasks' and service['processing'] is True
    assert service['url'] == '/remotetask/api/services/tasks'
    status, body = server.call('/remotetask/api/services')
    assert status == 401
