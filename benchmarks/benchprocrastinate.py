"""The Procrastinate app of ``benchmarks/peers.py``: the same tasks as
``benchtasks``, on the queue ``bench``.

The worker processes that peers.py starts load it by name
(``procrastinate --app benchprocrastinate.app worker``) and find the
database in the environment variable ``BENCH_PROCRASTINATE_DSN``; the
benchmark's producers make an app of their own with `makeApp` and a
synchronous connector.
"""
import os

import procrastinate

import benchtasks

#: The environment variable that holds the worker's libpq connection string.
DSN = 'BENCH_PROCRASTINATE_DSN'
QUEUE = 'bench'


def makeApp(connector) -> procrastinate.App:
    """An app with the benchmark's tasks, named as in benchtasks."""
    app = procrastinate.App(connector=connector)
    for name in ('echo', 'sleep20', 'span'):
        app.task(name=name, queue=QUEUE)(getattr(benchtasks, name))
    return app


app = makeApp(procrastinate.PsycopgConnector(
    conninfo=os.environ.get(DSN, '')))
