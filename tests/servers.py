"""Real servers and worker processes for the tests: a ZEO server on a free
loopback port, a PostgreSQL database for RelStorage, and worker commands."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from lovely.remotetask import testing

HERE = os.path.dirname(os.path.abspath(__file__))
POSTGRES = dict(host='127.0.0.1', port=5432, user='postgres')


def freePort() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def accepts(port) -> bool:
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


class ZEOServer:
    """``remotetask zeo`` (ZEO's runzeo, where this package is importable)
    serving a FileStorage in `directory`."""

    def __init__(self, directory):
        self.path = os.path.join(directory, 'zeo.fs')
        self.log = open(os.path.join(directory, 'zeo.log'), 'ab')
        self.port = freePort()
        self.process = None

    @property
    def uri(self):
        return f'zeo://127.0.0.1:{self.port}'

    def start(self):
        # The tests' own application classes (workerapp) are importable by
        # the server, as an application's are by its ZEO server: a class
        # it cannot import shows as an "unexpected error" in conflict
        # resolution rather than as the conflict it is.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [HERE, os.environ.get('PYTHONPATH')])))
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'lovely.remotetask', 'zeo',
             '--address', f'127.0.0.1:{self.port}', '--db', self.path],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        testing.waitUntil(lambda: accepts(self.port), timeout=30,
                          interval=0.05)

    def stop(self):
        """Stop the server; kill it if it does not stop within 10 s (it
        can wait on a client in the middle of a commit)."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)

    def close(self):
        if self.process and self.process.poll() is None:
            self.stop()
        self.log.close()


def postgresReachable() -> bool:
    try:
        import psycopg2
        psycopg2.connect(dbname='postgres', connect_timeout=2,
                         **POSTGRES).close()
        return True
    except Exception:
        return False


class PostgresDatabase:
    """A database of its own on the machine's PostgreSQL, for RelStorage."""

    def __init__(self):
        self.name = f'remotetask_{uuid.uuid4().hex[:12]}'
        self._admin('CREATE DATABASE {}')

    @property
    def uri(self):
        return (f'postgres://{POSTGRES["user"]}@{POSTGRES["host"]}:'
                f'{POSTGRES["port"]}/{self.name}')

    def drop(self):
        self._admin('DROP DATABASE IF EXISTS {} WITH (FORCE)')

    def _admin(self, statement):
        import psycopg2
        connection = psycopg2.connect(dbname='postgres', **POSTGRES)
        connection.autocommit = True
        try:
            connection.cursor().execute(statement.format(self.name))
        finally:
            connection.close()


def runCommand(*args, timeout=60):
    """Run ``python -m lovely.remotetask`` with the test tasks importable."""
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    return subprocess.run(
        [sys.executable, '-m', 'lovely.remotetask', *args],
        capture_output=True, text=True, timeout=timeout, env=env)


class Worker:
    """A `remotetask worker` process; its log goes to a file."""

    def __init__(self, directory, uri, *options, name='worker'):
        self.logPath = os.path.join(directory,
                                    f'{name}-{uuid.uuid4().hex[:6]}.log')
        self.log = open(self.logPath, 'wb')
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep +
                   os.environ.get('PYTHONPATH', ''))
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'lovely.remotetask', 'worker',
             '--db', uri, '--tasks', 'workerapp.tasks', *options],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    @property
    def pid(self):
        return self.process.pid

    def output(self) -> str:
        with open(self.logPath, encoding='utf-8', errors='replace') as f:
            return f.read()

    def signal(self, signum):
        os.kill(self.pid, signum)

    def stop(self, timeout=30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def waitFor(condition, timeout=60):
    """Like testing.waitUntil, but for conditions that read over a network
    and may find the server away for a moment."""
    from transaction.interfaces import TransientError

    def check():
        try:
            return condition()
        except TransientError:
            return False

    testing.waitUntil(check, timeout, interval=0.05)


def runSeconds(seconds):
    """An outage the test means to cause, not a wait for something."""
    time.sleep(seconds)
