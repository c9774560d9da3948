"""Requests per second of the Web service, with 100 jobs stored and 100,000.

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/web.py [--jobs 100000] [--requests 500] [--rounds 2]

Two FileStorage databases in a temporary directory each hold a service
``bench`` in the application root: one with 100 jobs, one with ``--jobs``
(added 5,000 per transaction, each tagged and naming a customer; half of
them queued, four in ten cancelled and one in ten run, 50 a transaction, so that ``queued``, ``cancelled`` and ``completed``
have jobs to list and the chart has minutes to show).  For each kind of request it times
``--requests`` requests on each database, in turns (A B B A, then B A A B,
...) so that machine noise falls on both alike:

- ``GET /api/services/bench/jobs?limit=50``: the first page, newest first;
- the same from the middle (``after`` = the cursor of the job in the
  middle);
- ``GET ...?status=queued&limit=50``: a status's first page;
- ``GET ...?task=echo&limit=50``: a page filtered by task;
- ``GET /services/bench?limit=50``: the service's page (HTML), with its
  counts, chart and workers;
- ``GET /services/bench/rows.json?head=1&limit=50``: what the page reads
  every two seconds to follow the listing live;
- ``GET /``: the overview of the services (HTML);
- ``GET /services/bench/jobs/ID``: a job's page (HTML);
- ``GET ...?tag=eu&limit=50``: the first page of a tag half the jobs
  have (each job is tagged ``eu`` or ``us``, and ``batch-N`` by the
  thousand);
- ``GET ...?q=globex&limit=50``: the first page of a word of the inputs
  (each input names one of 20 customers: 5,000 jobs each at 100,000);
- ``GET ...?q=glo&tag=batch-7&limit=50``: a prefix and a rarer tag;
- ``GET /services/bench?tag=eu&q=globex&limit=50``: the service's page,
  filtered by a tag and a word;
- ``POST /api/services/bench/jobs``: an add, one commit each (timed last,
  as it adds jobs).

``--only tag,word,...`` times those kinds alone.  Searches are read from
the search index (`store.search`), which the indexer wrote after the
drains of the fill; the target for them is also absolute: under a second
each.

Requests are WSGI calls in this process (the application's cost and the
database's, without a socket); ``--http`` also times the first page and
the add through waitress on a free loopback port, with a keep-alive
connection.  The target: every page within 1.5x of the time it takes with
100 jobs stored.

Pages filtered by a status are read from the status's index, past the
cursor: the first page costs the same at any size; so does a page deep
down the cancelled jobs (half-way down), as the cursor says where the
index's streams stood.  With 100 jobs stored the cancelled page holds the
40 there are, the others a full 50.  A page filtered by a task reads at most ``listing.TASK_SCAN`` jobs:
here every job has the task, so it reads 50; for a rare task it reads up
to that bound, whatever the backlog.
"""
import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time

import transaction
import webob

# A sibling script, found as the script's directory is on sys.path.
from backlog import sourceVersion
from ZODB import DB
from ZODB.FileStorage import FileStorage

import lovely.remotetask
from lovely.remotetask import TaskService, web
from lovely.remotetask.hosts.folder import getApplicationRoot

TARGET_RATIO = 1.5
#: The most seconds a search may take (its slowest request, the first).
SEARCH_TARGET = 1.0
SEARCHES = ('tag', 'word', 'prefix', 'filtered')
CUSTOMERS = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Soylent',
             'Stark', 'Wayne', 'Wonka', 'Tyrell', 'Cyberdyne', 'Aperture',
             'Gringotts', 'Monarch', 'Oscorp', 'Vandelay', 'Dunder',
             'Pied', 'Massive', 'Nakatomi']
FILL_BATCH = 5000
RUN_BATCH = 50
SMALL = 100
TOKEN = 'benchmark-token-0123456789'
AUTH = {'Authorization': f'Bearer {TOKEN}'}


def echo(input):
    return input


class Subject:
    """One database with a service of `size` jobs, and its application."""

    def __init__(self, directory, size):
        self.size = size
        self.db = DB(FileStorage(os.path.join(directory, f'{size}.fs')))
        tm = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=tm)
        root = getApplicationRoot(connection, create=True)
        service = root['bench'] = TaskService()
        tm.commit()
        for start in range(0, size, FILL_BATCH):
            toRun = []
            for n in range(start, min(size, start + FILL_BATCH)):
                jobid = service.add(
                    'echo', {'n': n, 'customer': CUSTOMERS[n % 20]},
                    tags=['eu' if n % 2 else 'us', f'batch-{n // 1000}'])
                if n % 10 == 1:
                    toRun.append(jobid)
                elif n % 2:
                    service.cancel(jobid)
            tm.commit()        # (the intake is drained after the commit)
            # Run in small transactions: processNext reads the intake,
            # which a transaction of thousands of moves makes long.
            for at in range(0, len(toRun), RUN_BATCH):
                for jobid in toRun[at:at + RUN_BATCH]:
                    service.processNext(jobid=jobid)
                tm.commit()
        self.middle = self._cursorAt(service, None, size // 2)
        # Half-way down the cancelled jobs, or (with few) where a full page
        # is left, if there is one.
        cancelled = service.statusCounts().get('cancelled', 0)
        self.deepCursor = self._cursorAt(
            service, 'cancelled', min(cancelled // 2, max(0, cancelled - 50)))
        self.jobid = service.jobsPage(after=self.middle, limit=1)[0][0].id
        connection.close()
        self.app = web.makeApp(self.db, credentials=web.Credentials(
            manage=[TOKEN]))
        self.cookie = self._login()

    @staticmethod
    def _cursorAt(service, status, position):
        """The cursor of the listing after its first `position` jobs."""
        cursor, seen = None, 0
        if not position:
            return None
        while seen < position:
            page, cursor = service.jobsPage(
                status=status, after=cursor,
                limit=min(500, position - seen))
            seen += len(page)
        return cursor

    def _login(self):
        response = webob.Request.blank(f'/login?token={TOKEN}').get_response(
            self.app)
        return response.headers['Set-Cookie'].split(';')[0]

    def call(self, request):
        """Run one request; return its status."""
        statuses = []
        body = b''.join(self.app(request.environ,
                                 lambda status, headers: statuses.append(status)))
        if not statuses[0].startswith(('200', '201')):
            raise AssertionError(f'{request.path_qs}: {statuses[0]} {body[:200]}')
        return body

    def requests(self, kind, count):
        """`count` fresh requests of `kind` (built before timing)."""
        if kind == 'add':
            return [webob.Request.blank(
                '/api/services/bench/jobs', method='POST', headers=AUTH,
                body=json.dumps({'task': 'echo', 'input': {'n': n}}).encode(),
                content_type='application/json') for n in range(count)]
        path = dict(
            page='/api/services/bench/jobs?limit=50',
            middle=f'/api/services/bench/jobs?limit=50&after={self.middle}',
            queued='/api/services/bench/jobs?status=queued&limit=50',
            task='/api/services/bench/jobs?task=echo&limit=50',
            tag='/api/services/bench/jobs?tag=eu&limit=50',
            word='/api/services/bench/jobs?q=globex&limit=50',
            prefix='/api/services/bench/jobs?q=glo&tag=batch-7&limit=50',
            filtered='/services/bench?tag=eu&q=globex&limit=50',
            deep='/api/services/bench/jobs?status=cancelled&limit=50'
                 + (f'&after={self.deepCursor}' if self.deepCursor else ''),
            dashboard='/services/bench?limit=50',
            live='/services/bench/rows.json?ids=&head=1&limit=50',
            home='/',
            job=f'/services/bench/jobs/{self.jobid}')[kind]
        headers = AUTH if path.startswith('/api/') else \
            {'Cookie': self.cookie}
        return [webob.Request.blank(path, headers=headers)
                for _ in range(count)]

    def close(self):
        self.db.close()


KINDS = [
    ('page', 'GET first page of 50 (newest first)'),
    ('middle', 'GET page of 50 from the middle'),
    ('queued', 'GET first page of 50 queued'),
    ('task', 'GET first page of 50 of a task'),
    ('deep', 'GET cancelled page half-way down'),
    ('dashboard', 'GET service page of 50 (HTML)'),
    ('tag', 'GET first page of 50 of a tag (half the jobs)'),
    ('word', 'GET first page of 50 with a word (q)'),
    ('prefix', 'GET first page, a prefix and a rare tag'),
    ('filtered', 'GET service page filtered by tag and word'),
    ('live', 'GET rows.json, first page (live)'),
    ('home', 'GET overview of services (HTML)'),
    ('job', 'GET a job\'s page (HTML)'),
    ('add', 'POST add (one commit)'),
]


def timeRequests(subject, kind, count):
    """Seconds per request, one sample per request."""
    samples = []
    for request in subject.requests(kind, count):
        start = time.perf_counter()
        subject.call(request)
        samples.append(time.perf_counter() - start)
    return samples


def measure(small, large, count, rounds, kinds=KINDS, cold=None):
    """Seconds per request of each kind, by database size; `cold` gets
    the first request of each kind and size (before any warm-up)."""
    results = {kind: {small.size: [], large.size: []} for kind, _ in kinds}
    for kind, _ in kinds:
        for subject in (small, large):   # warm up: templates, caches
            samples = timeRequests(subject, kind, min(50, count))
            if cold is not None:
                cold.setdefault(kind, {})[subject.size] = samples[0]
        for r in range(rounds):
            order = (small, large, large, small) if r % 2 == 0 else \
                (large, small, small, large)
            for subject in order:
                results[kind][subject.size].extend(
                    timeRequests(subject, kind, count // 2))
    return results


class Server:
    """An application served by waitress on a free loopback port."""

    def __init__(self, app):
        import waitress
        self.server = waitress.create_server(app, host='127.0.0.1', port=0,
                                             threads=4)
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self):
        from waitress import wasyncore
        self.server.trigger.pull_trigger(
            lambda: wasyncore.close_all(self.server._map))
        self.thread.join(10)


def measureHttp(small, large, count, rounds):
    servers = {s.size: Server(s.app) for s in (small, large)}
    results = {kind: {small.size: [], large.size: []}
               for kind in ('page', 'add')}
    try:
        for kind in ('page', 'add'):
            for r in range(rounds + 1):   # the first round warms up
                order = (small, large, large, small) if r % 2 == 0 else \
                    (large, small, small, large)
                for subject in order:
                    samples = httpRequests(servers[subject.size].port, kind,
                                           count // 2)
                    if r:
                        results[kind][subject.size].extend(samples)
    finally:
        for server in servers.values():
            server.close()
    return results


def httpRequests(port, kind, count):
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    samples = []
    try:
        for n in range(count):
            start = time.perf_counter()
            if kind == 'page':
                connection.request('GET', '/api/services/bench/jobs?limit=50',
                                   headers=AUTH)
            else:
                connection.request(
                    'POST', '/api/services/bench/jobs',
                    body=json.dumps({'task': 'echo', 'input': n}),
                    headers=dict(AUTH, **{'Content-Type': 'application/json'}))
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 201):
                raise AssertionError(f'HTTP {response.status}')
            samples.append(time.perf_counter() - start)
    finally:
        connection.close()
    return samples


def table(title, results, names, small, large):
    rows = []
    for kind, name in names:
        a, b = results[kind][small], results[kind][large]
        rows.append((name, len(a) / sum(a), len(b) / sum(b),
                     statistics.median(a) * 1e3, statistics.median(b) * 1e3,
                     statistics.median(b) / statistics.median(a)))
    width = max(len(r[0]) for r in rows)
    print(title)
    print(f'  {"request":{width}}  {"req/s " + str(small):>12}  '
          f'{"req/s " + format(large, ","):>14}  {"median ms":>17}  ratio')
    for name, ra, rb, ma, mb, ratio in rows:
        print(f'  {name:{width}}  {ra:12,.0f}  {rb:14,.0f}  '
              f'{ma:7.2f} / {mb:7.2f}  {ratio:5.2f}x')
    return {kind: row[-1] for (kind, _), row in zip(names, rows)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=100_000)
    parser.add_argument('--requests', type=int, default=500,
                        help='requests per kind and database and round')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--http', action='store_true',
                        help='also time requests through waitress')
    parser.add_argument('--only', metavar='KIND,...',
                        help='time only these kinds of request: '
                        + ', '.join(kind for kind, _ in KINDS))
    args = parser.parse_args(argv)
    kinds = KINDS
    if args.only:
        wanted = args.only.split(',')
        kinds = [(kind, name) for kind, name in KINDS if kind in wanted]
        if len(kinds) != len(wanted):
            parser.error(f'--only takes {", ".join(k for k, _ in KINDS)}')
    lovely.remotetask.provideTask(echo)
    started = time.monotonic()
    print(f'lovely.remotetask Web benchmark, {time.strftime("%Y-%m-%d")}, '
          f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
          f'{platform.system()} {platform.machine()}')
    print(f'source: {sourceVersion()}')
    print(f'FileStorage; {args.requests} requests x {args.rounds} rounds '
          f'per cell, alternating databases; WSGI calls in process')
    with tempfile.TemporaryDirectory() as tmp:
        fill = time.monotonic()
        small, large = Subject(tmp, SMALL), Subject(tmp, args.jobs)
        print(f'filled {SMALL} and {args.jobs:,} jobs (half of them '
              f'queued, four in ten cancelled, one in ten run) in '
              f'{time.monotonic() - fill:.1f} s')
        print()
        try:
            cold = {}
            results = measure(small, large, args.requests, args.rounds,
                              kinds, cold)
            ratios = table('In process (WSGI)', results, kinds, SMALL,
                           args.jobs)
            searchesOk = searchTable(results, cold, kinds, args.jobs)
            httpRatios = {}
            if args.http:
                print()
                httpResults = measureHttp(small, large, args.requests,
                                          args.rounds)
                httpRatios = table(
                    'Through waitress on 127.0.0.1 (keep-alive)', httpResults,
                    [('page', 'GET first page of 50 (newest first)'),
                     ('add', 'POST add (one commit)')], SMALL, args.jobs)
        finally:
            small.close()
            large.close()
    print()
    print(f'Target: a page of 50 within {TARGET_RATIO}x with {args.jobs:,} '
          f'jobs stored as with {SMALL}')
    verdicts = [(name, ratios[kind]) for kind, name in kinds
                if kind != 'add']
    if httpRatios:
        verdicts.append(('page over HTTP', httpRatios['page']))
    failed = False
    width = max(len(name) for name, _ in verdicts)
    for name, ratio in verdicts:
        ok = ratio <= TARGET_RATIO
        failed |= not ok
        print(f'  {name:{width}} {ratio:5.2f}x  {"ok" if ok else "MISSED"}')
    if 'add' in ratios:
        print(f'  (not a target: the add {ratios["add"]:.2f}x)')
    print(f'total run time {time.monotonic() - started:.0f} s')
    return 1 if failed or not searchesOk else 0


def searchTable(results, cold, kinds, size) -> bool:
    """Print the searches' first (cold) and median times with `size` jobs
    stored; return whether each took under SEARCH_TARGET."""
    searches = [(kind, name) for kind, name in kinds if kind in SEARCHES]
    if not searches:
        return True
    print()
    print(f'Searches with {size:,} jobs (target: under {SEARCH_TARGET:g} s '
          f'each, the first request too)')
    ok = True
    for kind, name in searches:
        first = cold[kind][size]
        median = statistics.median(results[kind][size])
        slowest = max(first, max(results[kind][size]))
        ok &= slowest < SEARCH_TARGET
        print(f'  {name:45} first {first * 1e3:7.1f} ms  median '
              f'{median * 1e3:7.1f} ms  slowest {slowest * 1e3:7.1f} ms  '
              f'{"ok" if slowest < SEARCH_TARGET else "MISSED"}')
    return ok


if __name__ == '__main__':
    sys.exit(main())
