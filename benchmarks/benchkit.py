"""What several benchmarks need alike: a free loopback port, a server's
port to listen on, a process stopped, and the fsync probe that says how
busy the disk is."""
import os
import signal
import socket
import statistics
import subprocess
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
