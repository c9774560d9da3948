"""The Oban workers of ``benchmarks/peers.py``: ``Echo`` and ``Sleep20``,
on the queue ``bench``.

Oban (its Python edition, the ``oban`` package, Python 3.12 or later) runs
``async`` workers in an event loop, so ``Sleep20`` awaits its 20 ms, as an
Oban job that waits would.  Each records its result (``Record``), as the
other systems keep theirs.  The worker process that peers.py starts
(``python -m oban start``) finds these classes by the names stored with
the jobs (``benchoban.Echo``), on its PYTHONPATH.
"""
import asyncio
import time

from oban import Record, worker

import benchtasks

QUEUE = 'bench'


@worker(queue=QUEUE)
class Echo:
    """A tiny job: its result is its input."""

    async def process(self, job):
        return Record(job.args['input'])


@worker(queue=QUEUE)
class Sleep20:
    """An I/O-bound job: waits 20 ms, then returns its input."""

    async def process(self, job):
        await asyncio.sleep(benchtasks.SLEEP)
        return Record(job.args['input'])


@worker(queue=QUEUE)
class Span:
    """W8's limited job: waits its input's ``work``, then writes its span
    (``benchtasks.writeSpan``)."""

    async def process(self, job):
        started = time.time()
        await asyncio.sleep(job.args['input'].get('work', 0))
        benchtasks.writeSpan('span', job.args['input'], started)
        return Record(job.args['input'])


WORKERS = {'echo': Echo, 'sleep20': Sleep20, 'span': Span}
