"""What several benchmarks need alike: a free loopback port, a server's
port to listen on, a process stopped, the fsync probe that says how busy
the disk is, and the means to measure another checkout side by side (its
source first on the PYTHONPATH of child processes) and print tables."""
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


class RunError(Exception):
    """A run that could not start or did not finish."""


def freePort():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def waitForPort(port, timeout, process=None):
    """Return once something listens on loopback `port`; a RunError if
    `process` (the server) exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RunError(f'server exited with {process.returncode}')
        with socket.socket() as sock:
            if sock.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.05)
    raise RunError(f'nothing listens on 127.0.0.1:{port} after {timeout} s')


def stopProcess(process, timeout=30):
    """SIGTERM, then SIGKILL after `timeout` seconds; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def fsyncTimes(directory, count):
    """Seconds each of `count` fsyncs of a 2 KB append in `directory` took:
    the floor of a commit, and how busy the disk is."""
    path = os.path.join(directory, 'fsync.probe')
    times = []
    with open(path, 'ab') as f:
        for _ in range(count):
            f.write(b'x' * 2000)
            f.flush()
            t0 = time.perf_counter()
            os.fsync(f.fileno())
            times.append(time.perf_counter() - t0)
    os.unlink(path)
    return times


def fsyncMs(directory, count=200):
    """Median milliseconds of an fsync of a 2 KB append in `directory`
    (other work on the machine shows here)."""
    return statistics.median(fsyncTimes(directory, count)) * 1e3


# ---------------------------------------------------------------------------
# Side by side: one script measures this environment's source and another
# checkout's, each in child processes that import it first.

#: The prefix of the line on which a child role hands back its result.
RESULT = 'BENCHKIT-RESULT '


def payload(i):
    """A tiny job's input, as ``peers.py`` adds: also its echo's result."""
    return {'n': i, 'pad': 'x' * 20}


def sourceDirectory(path):
    """The directory that holds ``lovely/remotetask`` in `path`: a checkout
    (its ``src``) or a source directory itself; a RunError otherwise."""
    path = os.path.abspath(path)
    for candidate in (os.path.join(path, 'src'), path):
        if os.path.isdir(os.path.join(candidate, 'lovely', 'remotetask')):
            return candidate
    raise RunError(f'{path}: neither it nor its src holds '
                   f'lovely/remotetask')


class Side:
    """A source of lovely.remotetask to measure: this environment's
    (`src` None) or the `src` directory of another checkout, put first on
    the children's PYTHONPATH (its dependencies must be installed here)."""

    def __init__(self, key, src=None):
        self.key = key
        self.src = src

    def env(self, **extra):
        """The environment of a child of this side: its source, then the
        benchmarks' directory (for sibling modules such as benchtasks)."""
        env = dict(os.environ)
        here = os.path.dirname(os.path.abspath(__file__))
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (self.src, here, env.get('PYTHONPATH')) if p)
        env.update(extra)
        return env

    def __repr__(self):
        return f'side {self.key}'


def sides(compare):
    """Side A (this environment) and, with a `compare` path, side B."""
    out = [Side('A')]
    if compare:
        out.append(Side('B', sourceDirectory(compare)))
    return out


def runRole(script, side, role, cfg, timeout, logPath):
    """Run `script --role ROLE CFG` as a child of `side` and return what it
    handed back with `handBack`; a RunError if it failed or took longer
    than `timeout` seconds (its stderr goes to `logPath`)."""
    import json
    with open(logPath, 'ab') as log:
        try:
            done = subprocess.run(
                [sys.executable, os.path.abspath(script), '--role', role,
                 json.dumps(cfg)], stdout=subprocess.PIPE, stderr=log,
                env=side.env(), timeout=timeout, text=True)
        except subprocess.TimeoutExpired:
            raise RunError(f'{role} ({side}) took more than {timeout:.0f} s;'
                           f' see {logPath}') from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise RunError(f'{role} ({side}) exited with {done.returncode} and no '
                   f'result: {tail(logPath)}')


def handBack(data):
    """In a child role: hand `data` (JSON) back to `runRole`."""
    import json
    sys.stdout.write(RESULT + json.dumps(data) + '\n')
    sys.stdout.flush()


def tail(path, lines=5):
    """The last lines of a log, on one line."""
    try:
        with open(path, errors='replace') as f:
            return ' | '.join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return '(no log)'


def zeoServer(path, logPath, env=None):
    """A context manager: a ZEO server (``ZEO.runzeo``) on a free loopback
    port serving the FileStorage at `path`, run with `env` (so that it
    resolves conflicts with the classes of the source measured); its URI."""
    import contextlib

    @contextlib.contextmanager
    def server():
        port = freePort()
        with open(logPath, 'ab') as log:
            process = subprocess.Popen(
                [sys.executable, '-m', 'ZEO.runzeo', '-a',
                 f'127.0.0.1:{port}', '-f', path],
                stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                waitForPort(port, 60, process)
                yield f'zeo://127.0.0.1:{port}'
            finally:
                stopProcess(process)
    return server()


def command(script, argv):
    """The command line that runs `script` with `argv` again, as the
    reports print it."""
    import shlex
    python = os.path.relpath(sys.executable)
    if python.startswith('..'):
        python = sys.executable
    return shlex.join([python, os.path.relpath(script)] + list(argv))


def render(head, body, right=()):
    """Lines of a plain table: `head`, then `body`, the columns whose
    index is in `right` aligned right."""
    rows = [tuple(str(c) for c in r) for r in [head] + list(body)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    rule = '  '.join('-' * w for w in widths)
    lines = [rule]
    for n, r in enumerate(rows):
        lines.append('  '.join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            lines.append(rule)
    lines.append(rule)
    return lines


def ratioText(value):
    """A ratio as the reports print it: 257x, 1.04x, or 1/158 below 0.1."""
    if value is None:
        return '-'
    if 0 < value < 0.1:
        return f'1/{1 / value:.0f}'
    if value >= 100:
        return f'{value:.0f}x'
    return f'{value:.2f}x'


def machine():
    """Date, Python, CPUs and system, for a report's first line."""
    import platform
    return (f'{time.strftime("%Y-%m-%d")}, Python '
            f'{platform.python_version()}, {os.cpu_count()} CPUs, '
            f'{platform.system()} {platform.machine()}')


def loadAverage():
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())
