"""How much does the database grow per job, on each storage, and what does
a pack give back?

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/growth.py [--jobs 10000]
        [--only file,zeo,relstorage-hp,relstorage-hf]
        [--postgres 'host=127.0.0.1 port=5432 user=postgres dbname=postgres']

For each storage, on a fresh database: a `TaskService` in the application
root, processed by ``service.startProcessing()`` (a SimpleProcessor, a
thread of this process, over the storage's client for ZEO and RelStorage),
and ``--jobs`` echo jobs added one per transaction while it runs them.
Then ``clean()`` removes them all (1,000 per transaction), and
``packing.pack(db, now=...)`` packs the database as it will be once the
least history a pack keeps has gone by: keeping none of this run's.

file           a FileStorage in a temporary directory;
zeo            a ZEO server process (``ZEO.runzeo``) serving a FileStorage
               on a free loopback port;
relstorage-hp  RelStorage on the machine's PostgreSQL, in a database of its
               own, history preserving (RelStorage's default);
relstorage-hf  the same, history free (``?keep_history=false``).

Sizes: the FileStorage's file (the server's, for ZEO); for RelStorage
the tables and indexes of the database as they are on disk
(``pg_total_relation_size`` of each table of schema public, RelStorage's
pack tables included), and what ``object_state`` holds: its rows and the
bytes of their pickles.  PostgreSQL gives the space of deleted rows back
to the file system only with ``VACUUM FULL``; (auto)vacuum makes it
reusable.
"""
import argparse
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import transaction
import zope.component

import lovely.remotetask
from lovely.remotetask import TaskService, getApplicationRoot, openDatabase
from lovely.remotetask import testing
from lovely.remotetask.runtime import packing
from lovely.remotetask.interfaces import COMPLETED

# A sibling script, found as the script's directory is on sys.path.
from backlog import sourceVersion
from benchkit import freePort

STORAGES = ('file', 'zeo', 'relstorage-hp', 'relstorage-hf')
TIMEOUT = 900


def say(*args):
    print(*args, flush=True)


@contextlib.contextmanager
def fileStorage(directory, args):
    path = os.path.join(directory, 'Data.fs')
    yield f'file://{path}', lambda db: os.path.getsize(path), None


@contextlib.contextmanager
def zeoServer(directory, args):
    port = freePort()
    path = os.path.join(directory, 'zeo.fs')
    with open(os.path.join(directory, 'zeo.log'), 'ab') as log:
        process = subprocess.Popen(
            [sys.executable, '-m', 'ZEO.runzeo', '-a', f'127.0.0.1:{port}',
             '-f', path], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(('127.0.0.1', port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield (f'zeo://127.0.0.1:{port}',
                   lambda db: os.path.getsize(path), None)
        finally:
            process.terminate()
            process.wait(30)


def postgres(keepHistory):
    @contextlib.contextmanager
    def database(directory, args):
        import psycopg2
        name = f'growth_{uuid.uuid4().hex[:12]}'

        def admin(statement, dbname=None):
            dsn = args.postgres if dbname is None else \
                f'{args.postgres} dbname={dbname}'
            connection = psycopg2.connect(dsn)
            connection.autocommit = True
            try:
                cursor = connection.cursor()
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else None
            finally:
                connection.close()

        def size(db):
            tables = admin(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'", name)
            return int(tables[0][0])

        def largest():
            return admin(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM "
                "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' "
                "ORDER BY 2 DESC LIMIT 4", name)

        size.largest = largest

        def rows():
            return admin('SELECT count(*), coalesce(sum(octet_length('
                         'state)), 0) FROM object_state', name)[0]

        admin(f'CREATE DATABASE {name}')
        try:
            params = psycopg2.extensions.parse_dsn(args.postgres)
            uri = (f'postgres://{params.get("user", "postgres")}@'
                   f'{params.get("host", "127.0.0.1")}:'
                   f'{params.get("port", "5432")}/{name}')
            if not keepHistory:
                uri += '?keep_history=false'
            yield uri, size, rows
        finally:
            admin(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
    return database


SETUPS = {'file': fileStorage, 'zeo': zeoServer,
          'relstorage-hp': postgres(True), 'relstorage-hf': postgres(False)}


def measure(setup, args):
    directory = tempfile.mkdtemp(prefix=f'growth-{setup}-')
    try:
        with SETUPS[setup](directory, args) as (uri, size, rows):
            db = openDatabase(uri)
            try:
                return run(db, size, rows, args.jobs)
            finally:
                db.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(db, size, rows, jobs):
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    root = getApplicationRoot(connection, create=True)
    root['svc'] = service = TaskService()
    tm.commit()
    service.startProcessing()
    empty = size(db)
    emptyRows = rows() if rows else None
    started = time.perf_counter()
    for n in range(jobs):
        service.add('echo', {'n': n})
        tm.commit()

    def done():
        tm.begin()
        return service.statusCounts().get(COMPLETED, 0) == jobs

    testing.waitUntil(done, timeout=TIMEOUT, interval=0.05)
    ran = time.perf_counter() - started
    service.stopProcessing(wait=30)
    result = dict(ran=ran, empty=empty, full=size(db))
    result['fullRows'] = rows() if rows else None
    while service.clean(limit=1000):
        tm.commit()
    tm.commit()
    result['cleaned'] = size(db)
    connection.close()
    packed = packing.pack(db, now=time.time() + packing.PACK_KEEP_MIN)
    result['packSeconds'] = packed.seconds
    result['packed'] = size(db)
    result['packedRows'] = rows() if rows else None
    result['largest'] = getattr(size, 'largest', lambda: None)()
    result['emptyRows'] = emptyRows
    return result


def report(results, jobs):
    say()
    say('disk: bytes on disk; B/job: growth per job run; rows: object '
        'rows of RelStorage (pickle bytes), run / packed')
    say(f'{"storage":<14} {"jobs/s":>7} {"B/job":>7} {"run":>9} '
        f'{"cleaned":>9} {"packed":>9} {"pack s":>7}  rows')
    for setup, r in results.items():
        perJob = (r['full'] - r['empty']) / jobs
        rowsText = '' if r['fullRows'] is None else (
            f'{r["fullRows"][0]:,} ({mb(r["fullRows"][1])}) / '
            f'{r["packedRows"][0]:,} ({mb(r["packedRows"][1])})')
        say(f'{setup:<14} {jobs / r["ran"]:>7,.0f} {perJob:>7,.0f} '
            f'{mb(r["full"]):>9} {mb(r["cleaned"]):>9} '
            f'{mb(r["packed"]):>9} {r["packSeconds"]:>7.2f}  {rowsText}')
    for setup, r in results.items():
        if r['largest']:
            say(f'{setup} after the pack, largest tables: ' + ', '.join(
                f'{table} {mb(size)}' for table, size in r['largest']))


def mb(size):
    return f'{size / 1e6:.1f} MB'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=10000)
    parser.add_argument('--only', default=','.join(STORAGES))
    parser.add_argument('--postgres',
                        default='host=127.0.0.1 port=5432 user=postgres '
                        'dbname=postgres')
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(',') if name.strip()]
    unknown = set(only) - set(STORAGES)
    if unknown:
        parser.error(f'unknown storages {", ".join(sorted(unknown))}; '
                     f'known: {", ".join(STORAGES)}')
    testing.setUp()
    zope.component.provideUtility(
        lovely.remotetask.SimpleTask(lambda input: input), name='echo')
    say(f'lovely.remotetask growth benchmark, {time.strftime("%Y-%m-%d")}, '
        f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
        f'{platform.system()} {platform.machine()}')
    say(f'source: {sourceVersion()}')
    say(f'{args.jobs:,} echo jobs per storage, added one per transaction '
        f'and run by a SimpleProcessor; then clean() of all and a pack '
        f'keeping no history')
    results = {}
    for setup in only:
        started = time.perf_counter()
        try:
            results[setup] = measure(setup, args)
        except Exception as error:
            say(f'{setup}: skipped: {type(error).__name__}: {error}')
            continue
        say(f'{setup}: done in {time.perf_counter() - started:.0f} s')
    report(results, args.jobs)


if __name__ == '__main__':
    main()
