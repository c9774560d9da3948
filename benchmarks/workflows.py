"""Workflows under load (issue 27): worker processes over one ZEO server.

- fan-in: N sibling jobs and one job that waits for all of them (``add(
  after=...)``), against N plain jobs on the same setup: the time of each,
  their ratio, how long after the last sibling's outcome the callback was
  claimed, how often it ran, and the share of the workers' commits that
  conflicted (of all, and of those that recorded outcomes);
- chain: a workflow of K steps, each waiting for the one before, against
  K plain jobs run one at a time by one worker: the time per step of each.

Run by hand:  .venv/bin/python benchmarks/workflows.py [--workers 4]
              [--threads 4] [--siblings 10000] [--chain 1000]
"""
import argparse
import sys
import tempfile
import time

from lovely import remotetask

from benchkit import command, render   # sibling scripts
from limits import Run


def fanIn(directory, args):
    rows = []
    with Run(directory, 'plain', args) as run:
        started = time.perf_counter()
        ids = run.add('sibling', [dict(work=0.01)] * (args.siblings + 1))
        run.waitUntil(lambda: run.ended(len(ids)))
        plain = time.perf_counter() - started
    plainCommits, plainConflicts = run.readCommits()
    with Run(directory, 'fan-in', args) as run:
        started = time.perf_counter()
        siblings = [run.service.add('sibling', dict(work=0.01))
                    for _ in range(args.siblings)]
        callback = run.service.add('gather', dict(work=0.01), after=siblings)
        run.tm.commit()
        run.waitUntil(lambda: run.completed([callback]))
        fanned = time.perf_counter() - started
        lastSibling = max(run.service.jobs[jobid].completed
                          for jobid in siblings)
        job = run.service.jobs[callback]
        claimedAfter = job.started - lastSibling
        runs = job.runs
    commits, conflicts = run.readCommits()
    outcomeCommits, outcomeConflicts = run.outcomes
    gathers = sum(1 for task, *_ in run.readSpans() if task == 'gather')
    rows.append(('fan-in', f'{args.siblings} siblings of 10 ms and a job '
                 f'waiting for them',
                 f'{fanned:.1f} s against {plain:.1f} s for '
                 f'{args.siblings + 1} plain jobs: {fanned / plain:.2f}x; '
                 f'claimed {claimedAfter * 1000:.0f} ms after the last '
                 f'sibling ended; ran {gathers} time(s) ({runs} run(s) '
                 f'recorded); commits conflicted {conflicts} of {commits} '
                 f'({conflicts / max(commits, 1):.2%}; plain jobs: '
                 f'{plainConflicts} of {plainCommits}); commits that '
                 f'recorded outcomes conflicted {outcomeConflicts} of '
                 f'{outcomeCommits} '
                 f'({outcomeConflicts / max(outcomeCommits, 1):.2%}); '
                 f'conflicts by class: '
                 f'{dict(run.conflicting.most_common(4))}'))
    return rows


def chain(directory, args):
    one = argparse.Namespace(**dict(vars(args), workers=1, threads=1))
    with Run(directory, 'chain-plain', one) as run:
        started = time.perf_counter()
        ids = run.add('sibling', [dict(work=0)] * args.chain)
        run.waitUntil(lambda: run.ended(len(ids)))
        plain = (time.perf_counter() - started) / args.chain
    with Run(directory, 'chain', one) as run:
        workflow = remotetask.Workflow('chain')
        workflow.chain(*[(f'step{n}', 'sibling', dict(work=0))
                         for n in range(args.chain)])
        started = time.perf_counter()
        ids = run.service.addWorkflow(workflow)
        run.tm.commit()
        run.waitUntil(lambda: run.ended(len(ids)))
        stepped = (time.perf_counter() - started) / args.chain
    return [('chain', f'{args.chain} steps, each waiting for the one before; '
             f'one worker, one thread',
             f'{stepped * 1000:.1f} ms per step against {plain * 1000:.1f} '
             f'ms per plain job: {stepped / plain:.2f}x')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--siblings', type=int, default=10000)
    parser.add_argument('--chain', type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        rows = fanIn(directory, args) + chain(directory, args)
    print(f'{command(__file__, sys.argv[1:])}\n{args.workers} worker '
          f'processes x {args.threads} threads over ZEO')
    print('\n'.join(render(('measure', 'setup', 'result'), rows)))


if __name__ == '__main__':
    main()
