"""Prometheus metrics (with the optional `prometheus_client` package).

Two kinds: gauges read from the database at each scrape (jobs by status,
queue depth, age of the oldest waiting job, jobs finished over the last
day by task and status, per service; each named
queue's jobs queued, running and held, whether paused and its limit; the
jobs running and held under each limit in force; the size of the
database and how its last pack went), and a histogram of task run times
that each process keeps for the jobs it ran.  Serve them
with `wsgiApp(db)` (mount it, e.g. at /metrics) or, in a worker process,
``remotetask worker --metrics-port 9100``.
"""
import collections
import time

import transaction

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
except ImportError:   # pragma: no cover - the package is optional
    prometheus_client = None

from lovely.remotetask.interfaces import FINISHED, STATUSES
from lovely.remotetask.runtime import packing
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.hosts.locate import applicationRoot, listServices
from lovely.remotetask.runtime.attempt import RUN_SECONDS, observeRun

__all__ = ['ServiceCollector', 'observeRun', 'registry', 'serve', 'wsgiApp']


class ServiceCollector:
    """Reads the gauges of every service of a database at each scrape."""

    def __init__(self, db, rootKey: str = APPLICATION_ROOT_KEY,
                 services: str = '*@*') -> None:
        self.db = db
        self.rootKey = rootKey
        #: Directives (or paths) of the services to read.
        self.services = services

    def collect(self):
        jobs = GaugeMetricFamily(
            'remotetask_jobs', 'Jobs by status', labels=['service', 'status'])
        depth = GaugeMetricFamily(
            'remotetask_queue_depth', 'Jobs ready to run, waiting',
            labels=['service'])
        age = GaugeMetricFamily(
            'remotetask_oldest_waiting_seconds',
            'Age of the oldest job waiting in the queue', labels=['service'])
        finished = GaugeMetricFamily(
            'remotetask_finished_last_day', 'Jobs finished over the last '
            '24 hours (this hour so far and the 23 before) by task, as the '
            'service\'s drains counted them',
            labels=['service', 'task', 'status'])
        queues = _QueueGauges()
        tm = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=tm)
        try:
            now = time.time()
            for name, service in _services(connection, self.rootKey,
                                           self.services):
                queues.add(name, service)
                _addFinished(finished, name, service)
                counts = service.statusCounts()
                # Every status, none counted too: a series that appears
                # only once a job has it breaks rates and alerts.
                for status in STATUSES:
                    jobs.add_metric([name, status], counts.get(status, 0))
                depth.add_metric([name], service.queueLength())
                oldest = service.oldestWaiting()
                age.add_metric([name], 0 if oldest is None
                               else max(0.0, now - oldest))
            database = list(_databaseGauges(self.db, connection))
        finally:
            tm.abort()
            connection.close()
        yield jobs
        yield depth
        yield age
        yield finished
        yield from queues.families()
        yield from database


class _QueueGauges:
    """The gauges of the named queues and of the limits in force."""

    def __init__(self) -> None:
        self.jobs = GaugeMetricFamily(
            'remotetask_queue_jobs', 'Jobs of a named queue: queued, '
            'running, and held (queued, kept waiting by a pause or a '
            'limit); counted up to 1000', labels=['service', 'queue',
                                                  'state'])
        self.paused = GaugeMetricFamily(
            'remotetask_queue_paused', '1 when the queue is paused',
            labels=['service', 'queue'])
        self.limit = GaugeMetricFamily(
            'remotetask_queue_limit', 'The most jobs of the queue that run '
            'at once (queues with a limit only)', labels=['service',
                                                          'queue'])
        self.limits = GaugeMetricFamily(
            'remotetask_limit_jobs', 'Jobs under a limit in force: running, '
            'and held by it', labels=['service', 'scope', 'state'])

    def add(self, name: str, service) -> None:
        for queue in service.getQueues():
            for state in ('queued', 'running', 'held'):
                self.jobs.add_metric([name, queue['name'], state],
                                     queue[state])
            self.paused.add_metric([name, queue['name']],
                                   1 if queue['paused'] else 0)
            if queue['limit'] is not None:
                self.limit.add_metric([name, queue['name']], queue['limit'])
        for limit in service.getLimits():
            scope = ':'.join(str(part) for part in limit['scope'])
            for state in ('running', 'held'):
                self.limits.add_metric([name, scope, state], limit[state])

    def families(self):
        return (self.jobs, self.paused, self.limit, self.limits)


def _addFinished(family, name: str, service) -> None:
    """A series per task this process knows and finished status, none
    counted too; from the hours the service keeps (a week, by task)."""
    for task in sorted(service.getAvailableTasks()):
        counts = collections.Counter()
        for _, hour in service.activityByHour(24, task):
            counts.update(hour)
        for status in FINISHED:
            family.add_metric([name, task, status], counts.get(status, 0))


def _databaseGauges(db, connection):
    """The size of the database, and how its last pack went: a size that
    keeps growing, or a last pack long ago or failed, means the disk
    fills (see docs/operations.rst)."""
    try:
        size = db.storage.getSize()
    except Exception:
        size = None
    if size is not None:
        yield GaugeMetricFamily(
            'remotetask_database_bytes', 'Size of the database (the '
            'storage\'s own figure: a FileStorage\'s file)', value=size)
    record = packing.lastPack(connection)
    if record is None or record.finished is None:
        return
    yield GaugeMetricFamily(
        'remotetask_last_pack_timestamp_seconds',
        'When the last pack of the database ended', value=record.finished)
    yield GaugeMetricFamily(
        'remotetask_last_pack_duration_seconds',
        'How long the last pack of the database took', value=record.seconds)
    yield GaugeMetricFamily(
        'remotetask_last_pack_failed', '1 when the last pack of the '
        'database failed', value=0 if record.error is None else 1)


def _services(connection, rootKey, services):
    for entry in listServices(applicationRoot(connection, rootKey),
                              services):
        yield entry.path, entry.service


def registry(db, rootKey: str = APPLICATION_ROOT_KEY,
             services: str = '*@*'):
    """A registry with the gauges of the services `services` names (see
    `locate`) and this process's run times."""
    if prometheus_client is None:
        raise RuntimeError('metrics need the prometheus_client package')
    result = prometheus_client.CollectorRegistry()
    result.register(ServiceCollector(db, rootKey, services))
    result.register(RUN_SECONDS)
    return result


def wsgiApp(db, rootKey: str = APPLICATION_ROOT_KEY, services: str = '*@*'):
    """A WSGI application that serves the metrics in Prometheus' format."""
    return prometheus_client.make_wsgi_app(registry(db, rootKey, services))


def serve(db, port: int, host: str = '127.0.0.1',
          rootKey: str = APPLICATION_ROOT_KEY, services: str = '*@*') -> None:
    """Serve the metrics over HTTP from a thread of this process."""
    prometheus_client.start_http_server(
        port, addr=host, registry=registry(db, rootKey, services))
