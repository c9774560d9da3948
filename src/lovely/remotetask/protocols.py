"""The contracts between a service and its processors (`IWorkerProtocol`)
and its hosts (`IPrincipalSource`).  As in `interfaces`, the
documentation of each method lives here."""
from zope.interface import Interface


class IWorkerProtocol(Interface):
    """The steps by which processors run a service's jobs.

    A processor registers as a worker, then claims jobs, runs each claim's
    task and records what came of it, in transactions of its own; it gives
    back jobs it claimed and did not start, and keeps its lease on the
    jobs it holds with heartbeats.  Time passed in (`now`) is epoch
    seconds; leases are measured on the database's clock (the serial of
    a committed heartbeat, see `lovely.remotetask.store.workers`).

    Between transactions, only the ids and attempts of claims matter:
    every step checks that the job is still in the worker's hand, in the
    same attempt, and refuses (`JobStateError`) a step for a job that was
    taken back meanwhile (fencing).
    """

    def registerWorker(workerId, leaseTime, serves=None):
        """Make `workerId` (a non-empty string) known, with the seconds its
        jobs stay leased after its last heartbeat (> 0), and `serves`:
        (queues, tasks) it takes jobs of, names or None for any."""

    def unregisterWorker(workerId):
        """Forget a worker that stops and holds no job."""

    def heartbeat(workerId, leaseTime, stalled=0, serves=None):
        """Show that the worker lives and return its record; once the
        transaction commits, the record's ``heartbeat.lastSeen`` tells the
        time on the database's clock.  A worker that others took for dead
        registers again.  `stalled` says how many tasks past their time
        limits keep it from taking jobs of tasks with time limits (0 for
        none), and `serves` what it takes (as in `registerWorker`), for
        operators to see."""

    def claim(workerId=None, limit=1, inHand=None, accepts=None,
              report=None):
        """Claim up to `limit` queued jobs for `workerId`, in the order they
        run, and return a `run.Claim` for each: the job id, the attempt
        (1 for the first), the task (looked up once for the attempt), its
        input and its time limit.

        Each job is marked processing and held by the worker.  Two
        transactions that claim the same job conflict, so a job is claimed
        once.  Workers take different jobs among the first few, by their
        place among the workers, so that their claims do not collide.
        `inHand` lists the ids the worker knows it holds; any other job
        the service says it holds is given back first (a claim whose commit
        failed as far as the worker could tell, yet went through).  A
        paused service gives nothing; a worker taken for dead registers
        again.  Scheduled jobs are not queued here: see `promote`.  With
        `accepts(queue, task)`, only jobs of the queues and tasks it
        accepts are claimed; the others stay in the queue, in their
        places, and cost the claim nothing.  Jobs held by the limits of
        their queue or task stay too (see `store.limits`); with `report`,
        a dict, ``report['opens']`` says when a rate that held some back
        allows the next start.  A job past its deadline is cancelled.
        """

    def releaseOrphans(workerId, inHand):
        """Give back the jobs the service says `workerId` holds but that
        are not among `inHand` (the ids it knows it holds: a claim whose
        commit failed as far as the worker could tell, yet went through);
        return their ids.  A claim with `inHand` does it first; a worker
        whose loops wait for jobs asks for it with its heartbeats."""

    def releaseJob(jobid, attempt):
        """Give back a claimed job that was not started: it waits in the
        queue again where it stood, before the jobs that came since, and
        the attempt does not count."""

    def recordOutcome(outcome, now=None):
        """Record what an attempt came to (a `run.Outcome`) and move the job
        on: completed; failed for good; queued or waiting (status retry)
        for another attempt; cancelled; or, for a cron job, back to its
        schedule.  A result larger than the service's `maxStoredSize` fails
        the job with a message saying so.  Each attempt is kept in the
        job's `history`."""

    def stopRequested(jobids):
        """Those of `jobids` whose jobs were asked to stop (cancelled while
        they ran)."""

    def setProgress(jobid, fraction, message=''):
        """Store how far a running job got (0 to 1); a progress report
        merges with whatever else is done to the job at the same time."""

    def recoverJobs(now):
        """Take back the jobs of workers whose leases ran out before `now`
        (database time) and return their ids: each lost attempt counts, so
        a task that kills its worker every time fails once its attempts
        are used up."""

    def promote(now=None):
        """File scheduled jobs by due time and queue those due at `now`
        (delayed jobs, jobs to be tried again, runs of cron jobs); return
        how many were queued.  Two transactions that queue the same run
        conflict, so a run is queued once."""

    def nextDue():
        """When the first scheduled job is due, 0 when some wait to be
        filed, or None: when `promote` next has work."""

    def expire(now=None, limit=500):
        """Remove up to `limit` finished jobs older than `keepFinished`
        seconds, oldest first, and return how many."""

    def drain():
        """Sort the jobs moved since the last drain into their places (the
        chains that listings and claims read), and return how many.
        Processors drain in transactions of their own, regularly and
        whenever many moved: two drains at once conflict, and nothing
        else does."""

    def drainsItself():
        """Leave the moves of the current transaction to the caller's own
        `drain` after it commits, instead of one that the commit starts
        when many moved: a processor drains by its place among the
        workers, so that workers do not all drain at once."""

    def undrained():
        """How many moves of jobs there were since the last `drain`, and
        jobs and removals noted for the search index and not indexed yet
        (a `drain` has them indexed after its commit)."""

    def heldBy(workerId):
        """The ids of the jobs `workerId` holds."""

    def getWorkers():
        """The workers known: dicts of id, host, pid, jobs held (id to
        attempt), leaseTime, lastSeen, started and stalled (see
        `heartbeat`)."""


class IPrincipalSource(Interface):
    """Tells who acts now: registered by a host with users (Zope), so
    that `ITaskService.add` stores who added each job."""

    def __call__():
        """The id of the principal acting in this thread, or None when
        nobody is known (anonymous, no request)."""
