"""The Celery app of ``benchmarks/peers.py``: the same tasks as
``benchtasks``, named ``echo`` and ``sleep20``, on the queue ``bench``.

The worker processes that peers.py starts load it by name
(``celery -A benchcelery worker``) and find Redis (broker and result
backend, one database) in the environment variable ``BENCH_CELERY_REDIS``;
the producers import the same app.
"""
import os

import celery

import benchtasks

#: The environment variable that holds the Redis URL.
REDIS = 'BENCH_CELERY_REDIS'
QUEUE = 'bench'

app = celery.Celery('benchcelery', broker=os.environ.get(REDIS),
                    backend=os.environ.get(REDIS))
app.conf.task_default_queue = QUEUE
for name in ('echo', 'sleep20', 'span'):
    app.task(name=name)(getattr(benchtasks, name))
app.task(name='gather')(benchtasks.gatherResults)
