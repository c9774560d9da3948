"""``remotetask serve``: credentials, the demo, a clean stop."""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from lovely.remotetask.testing import waitUntil

TIMEOUT = 30


def environment(**variables):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('REMOTETASK_')}
    env.update(variables)
    return env


class Serve:
    """``remotetask serve`` in a process of its own; reads what it prints."""

    def __init__(self, *args, env=None, cwd=None):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'lovely.remotetask', 'serve', '--port', '0',
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env or environment(), cwd=cwd)
        self.lines = queue.Queue()
        self.errors = []
        self.readers = [
            threading.Thread(target=self._read, daemon=True,
                             args=(self.process.stdout, self.lines.put)),
            threading.Thread(target=self._read, daemon=True,
                             args=(self.process.stderr, self.errors.append))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream, keep):
        for line in stream:
            keep(line.rstrip('\n'))

    def line(self, prefix):
        """The next printed line that starts with `prefix`."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                self.process.kill()
                raise AssertionError(
                    f'no line {prefix!r}; stderr: {self.errors}')
            if line.startswith(prefix):
                return line[len(prefix):]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            self.process.kill()
            for reader in self.readers:
                reader.join(TIMEOUT)
            self.stderr = '\n'.join(self.errors)


def get(url, token=None, data=None):
    request = urllib.request.Request(url, data=data)
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    if data is not None:
        request.add_header('Content-Type', 'application/json')
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)


def test_demo_on_loopback_prints_a_login_url(tmp_path):
    serve = Serve('--demo', '--grace', '0.5', cwd=tmp_path)   # ./var/Data.fs
    try:
        served = serve.line('remotetask: serving ')
        assert served.startswith(f'file://{tmp_path}/var/Data.fs at '
                                 f'http://127.0.0.1:')
        assert serve.line('remotetask: processing ') == 'demo'
        login = serve.line('remotetask: open ')
        base, _, token = login.partition('login?token=')
        assert len(token) >= 32
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(base + 'api/services')
        assert caught.value.code == 401
        services = get(base + 'api/services', token)['services']
        assert [s['id'] for s in services] == ['demo']
        assert services[0]['processing'] is True

        def statuses():
            jobs = get(base + 'api/services/demo/jobs', token)['jobs']
            # Oldest first (the listing shows the newest first).
            return [(job['task'], job['status']) for job in reversed(jobs)]

        waitUntil(lambda: statuses()[0] == ('echo', 'completed')
                  and statuses()[2] == ('sleep', 'processing'),
                  timeout=TIMEOUT, interval=0.05)
        tasks = [task for task, _ in statuses()]
        assert tasks == ['echo', 'fail', 'sleep', 'wordcount', 'echo']
        assert statuses()[3:] == [('wordcount', 'start later'),
                                  ('echo', 'cronjob')]
        tasks = get(base + 'api/services/demo/tasks', token)['tasks']
        assert tasks == ['echo', 'fail', 'sleep', 'wordcount']
    finally:
        # The demo's sleep job runs 10 s, longer than the grace given.
        assert serve.stop() == 1
    assert 'remotetasks.demo still busy after 0.5 s' in serve.stderr


def test_configured_tokens_and_rights(tmp_path):
    manage, read = 'm' * 20, 'r' * 20
    serve = Serve('--db', f'file://{tmp_path}/Data.fs', '--demo',
                  '--autostart', '', env=environment(
                      REMOTETASK_MANAGE_TOKEN=manage,
                      REMOTETASK_READ_TOKEN=read))
    try:
        base = serve.line('remotetask: serving ').split(' at ')[1]
        assert serve.line('remotetask: processing ') == 'nothing'
        assert serve.line('remotetask: open ') == base   # no token in it
        body = json.dumps({'task': 'echo', 'input': 1}).encode()
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(base + 'api/services/demo/jobs', read, body)
        assert caught.value.code == 403
        job = get(base + 'api/services/demo/jobs', manage, body)
        assert job['status'] == 'queued'
    finally:
        assert serve.stop() == 0


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, '-m', 'lovely.remotetask', 'serve', *args],
        capture_output=True, text=True, timeout=TIMEOUT,
        env=env or environment())


def test_off_loopback_without_credentials_it_refuses(tmp_path):
    result = run('--host', '0.0.0.0', '--db', f'file://{tmp_path}/Data.fs')
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'remotetask: refusing to serve on 0.0.0.0 without credentials: set '
        'REMOTETASK_MANAGE_TOKEN (and REMOTETASK_READ_TOKEN) or give '
        '--credentials FILE')
    assert not os.path.exists(tmp_path / 'Data.fs')   # not even opened


@pytest.mark.parametrize('variables, content, message', [
    (dict(REMOTETASK_MANAGE_TOKEN='short'), None,
     'remotetask: cannot use the credentials: a manage token must be a '
     'string of at least 16 characters'),
    ({}, 'admin aaaaaaaaaaaaaaaaaaaa\n',
     'remotetask: cannot use the credentials: {path}, line 1: expected '
     '"manage TOKEN" or "read TOKEN"'),
])
def test_bad_credentials_are_one_line(tmp_path, variables, content, message):
    args = ['--db', f'file://{tmp_path}/Data.fs']
    path = tmp_path / 'tokens'
    if content is not None:
        path.write_text(content)
        args += ['--credentials', str(path)]
    result = run(*args, env=environment(**variables))
    assert result.returncode == 2
    assert result.stderr.strip() == message.format(path=path)


# Slow and silent clients

def openSockets(address, count, greeting=b''):
    """`count` connections to `address` that send `greeting` (maybe half a
    request) and then nothing."""
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(address, timeout=TIMEOUT)
        if greeting:
            connection.sendall(greeting)
        sockets.append(connection)
    return sockets


def address(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


#: The most seconds a request may wait behind the silent connections.
BOUND = 10


def test_hundreds_of_silent_connections_shut_no_one_out(tmp_path):
    """Waitress's own defaults (100 connections, 120 s) stopped answering
    at the 101st idle connection; ``serve``'s take them in their stride."""
    token = 'm' * 20
    serve = Serve('--db', f'file://{tmp_path}/Data.fs', '--autostart', '',
                  env=environment(REMOTETASK_MANAGE_TOKEN=token))
    sockets = []
    try:
        base = serve.line('remotetask: serving ').split(' at ')[1]
        where = address(base)
        sockets += openSockets(where, 300)   # idle
        sockets += openSockets(where, 150, b'GET /api/services HTTP/1.1\r\n'
                               b'Host: x\r\nAuthorization: Bea')
        sockets += openSockets(where, 150, b'POST /api/services/x/jobs '
                               b'HTTP/1.1\r\nHost: x\r\nContent-Length: 100'
                               b'\r\n\r\n{"task": "ec')
        for _ in range(2):
            request = urllib.request.Request(
                base + 'api/services',
                headers={'Authorization': f'Bearer {token}'})
            with urllib.request.urlopen(request, timeout=BOUND) as response:
                assert json.load(response) == {'services': []}
        # They were all let in, not left waiting: none was closed yet.
        for connection in sockets[:5] + sockets[-5:]:
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)
    finally:
        for connection in sockets:
            connection.close()
        assert serve.stop() == 0


def test_silent_connections_are_closed_after_the_channel_timeout(tmp_path):
    token = 'm' * 20
    serve = Serve('--db', f'file://{tmp_path}/Data.fs', '--autostart', '',
                  '--connection-limit', '20', '--channel-timeout', '1',
                  env=environment(REMOTETASK_MANAGE_TOKEN=token))
    sockets = []
    try:
        base = serve.line('remotetask: serving ').split(' at ')[1]
        sockets = openSockets(address(base), 30, b'GET / HTTP/1.1\r\n')
        # Past the limit of 20, this one waits until silent ones are closed.
        request = urllib.request.Request(base + 'api/services', headers={
            'Authorization': f'Bearer {token}'})
        with urllib.request.urlopen(request, timeout=BOUND) as response:
            assert json.load(response) == {'services': []}
        for connection in sockets[:20]:
            connection.settimeout(BOUND)
            assert connection.recv(1) == b''   # closed by the server
    finally:
        for connection in sockets:
            connection.close()
        assert serve.stop() == 0


@pytest.mark.parametrize('option, value, message', [
    ('--connection-limit', '0', 'must be an int of at least 1, not '),
    ('--channel-timeout', '-5', 'must be an int of at least 1, not '),
    ('--port', '70000', 'must be an int from 0 to 65535, not '),
    ('--max-body', 'x', 'must be an int of at least 1, not '),
])
def test_bad_server_options_are_one_line(tmp_path, option, value, message):
    result = run('--db', f'file://{tmp_path}/Data.fs', option, value)
    assert result.returncode == 2
    assert f'argument {option}: {message}{value!r}' in result.stderr
    assert 'Traceback' not in result.stderr


def test_a_connection_limit_past_the_open_file_limit_is_one_line(tmp_path):
    resource = pytest.importorskip('resource')
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard > 10**6:
        pytest.skip('no hard limit on open files to run into')
    limit = hard
    result = run('--db', f'file://{tmp_path}/Data.fs',
                 '--connection-limit', str(limit))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f'remotetask: {limit} connections need {limit + 64} open files, and '
        f'the limit is {hard} (ulimit -n): lower the connection limit or '
        f'raise the limit')


def test_a_live_server_closes_when_its_loop_wakes_before_the_pull(app):
    """The test server's loop, woken by an earlier pull of its trigger (a
    request's end), runs the close only after the pull that asked for it
    wrote: run first, it closed the trigger, and that write failed with
    EBADF at teardown, once in a hundred runs on a loaded machine."""
    from conftest import LiveServer
    server = LiveServer(app)
    trigger = server.server.trigger
    pull = trigger._physical_pull

    def wokenBefore():
        pull()                  # the earlier pull: the loop wakes
        try:                    # and closes now, if it may
            waitUntil(lambda: trigger._closed, timeout=1)
        except AssertionError:
            pass                # it waits for this pull: as it should
        pull()                  # this pull's own write
    trigger._physical_pull = wokenBefore
    server.close()
    assert trigger._closed
