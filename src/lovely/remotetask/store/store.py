"""The store: the one entrance to a service's stored jobs.

Every move of a job goes through here (`place`, `take`, `move`,
`remove`), and so does every count and every look-up by id; claims (see
`claiming`), the schedule (see `scheduling`) and listings (see `listing`)
read and move through it too.  A job's status and its place cannot
disagree: only these functions change either, together.

=============================  =========================================
status                         where the job is
=============================  =========================================
queued                         the chain of its channel (queue, task and
                               priority)
start later, waiting           the chain of that status
cronjob, delayed, retry        the schedule, by due time
processing                     held by its worker; the 'processing'
                               chain for jobs run in the caller's
                               transaction
completed, cancelled, error    the chain of that status
=============================  =========================================

A move writes the job and the intake (see `intake`): the job gets a new
stamp and goes to the intake, from which `drain` sorts it into its chain
later, in a transaction where a conflict costs nothing but a retry.  An
add so writes two records.  Jobs are found by id in `byId`, which also
keeps them alive for packs, once drained, and in the intake before.
"""
import time
from typing import Dict, Iterator, List, Optional

from BTrees.OOBTree import OOBTree, OOTreeSet
from ZODB.utils import u64

from lovely.remotetask.exceptions import UnknownJobError
from lovely.remotetask.interfaces import FINISHED, MAX_JOB_ID, PROCESSING
from lovely.remotetask.store import (
    dependencies, drainapart, hourly, indexing, stamps)
from lovely.remotetask.store.activity import ActivityLog
from lovely.remotetask.store.chains import Chain
from lovely.remotetask.store.drainapart import DRAIN_AT, DRAIN_MOST
from lovely.remotetask.store.channels import LAST, REMOVED, channelOf
from lovely.remotetask.store.intake import Intake
from lovely.remotetask.store.jobmap import JobMap
from lovely.remotetask.store.jobs import Job
from lovely.remotetask.store.limits import Limit
from lovely.remotetask.store.registry import KeyIndex, Registry
from lovely.remotetask.store.settings import Settings
from lovely.remotetask.store.versioning import Versioned

#: Intake length at which a writer drains after its commit (no worker did).
DRAIN_AFTER_COMMIT_AT = 32


class Store(Versioned):
    finishedHours = None    # see `hourly`: made by a drain in old stores

    def __init__(self) -> None:
        self.epoch = stamps.epochNow()
        self.intake = Intake()
        #: id -> job, for the jobs the drain has sorted.
        self.byId = JobMap()
        #: channel -> Chain, for the channels that hold jobs.
        self.chains = OOBTree()
        #: (due, id) of the jobs waiting for a time.
        self.schedule = OOTreeSet()
        self.workers = Registry()
        self.keys = KeyIndex()
        self.settings = Settings()
        self.activityLog = ActivityLog()
        self.finishedHours = hourly.FinishedHours()
        #: scope -> Limit, for the scopes with limits (see `limits`).
        self.limits = OOBTree()
        #: queue name -> (paused, the most of its jobs that run at once or
        #: None), for the queues an operator set.
        self.queues = Registry()
        #: (deadline, id) of the jobs that must start by then.
        self.deadlines = OOTreeSet()
        #: Ids handed out while the store was in no database (yet) count
        #: up from 1; the highest so far.
        self.looseHigh = 0
        self.search = indexing.SearchIndex()

    def __repr__(self):
        return '<Store>'

    # Ids and look-ups

    def newId(self, job):
        """Give a new job its id; return the job (another one, with the
        same state, in the rare case described below).

        The id is the job's oid: the storage hands oids out to all its
        clients without a conflict, and adding a job writes nothing for
        its id.  Jobs added to a service not yet in a database count from
        1 instead.  Ids keep to 31 bits: past 2**31 oids they wrap.  An
        oid whose id a job has already is passed over."""
        jar = self._p_jar
        if jar is None:
            self.looseHigh += 1
            job.id = self.looseHigh
            return job
        while True:
            jar.add(job)
            oid = u64(job._p_oid)
            job.id = oid & MAX_JOB_ID
            if (oid <= MAX_JOB_ID and job.id > self.looseHigh) or \
                    self.get(job.id) is None:
                return job
            # Taken: the added object stays behind as garbage for a pack.
            spare = type(job).__new__(type(job))
            spare.__setstate__(job.__getstate__())
            job = spare

    def get(self, jobid) -> Optional[object]:
        if type(jobid) is not int or not 0 <= jobid <= MAX_JOB_ID:
            return None
        job = self.byId.get(jobid)
        if job is None:
            job = self._inIntake(jobid)
            if job is not None and job.status == REMOVED:
                return None    # removed before a drain filed it
        return job

    def job(self, jobid):
        """The job of `jobid`; UnknownJobError if there is none."""
        job = self.get(jobid)
        if job is None:
            raise UnknownJobError(jobid)
        return job

    def _inIntake(self, jobid):
        for job in self.intake.jobs:
            oid = job._p_oid
            if oid is not None and u64(oid) & MAX_JOB_ID != jobid and \
                    jobid > self.looseHigh:
                continue    # (the common case: no load needed)
            if job.id == jobid:
                return job
        return None

    def jobsBelow(self, below: Optional[int] = None) -> Iterator:
        """Every job, highest id first; with `below`, those of lower ids.
        Jobs still in the intake come where their ids say."""
        fresh = sorted((job for job in self.intakeJobs()
                        if self.byId.get(job.id) is not job and
                        (below is None or job.id < below)),
                       key=lambda job: job.id, reverse=True)
        for job in self.byId.below(below):
            while fresh and fresh[0].id > job.id:
                yield fresh.pop(0)
            if job.status != REMOVED:
                yield job
        yield from fresh

    # Moves

    def place(self, job, status: str, *, worker: Optional[str] = None,
              again: bool = False) -> None:
        """Put a job that is nowhere (new, or just taken) where `status`
        says.  A processing job is held by `worker`; with `again`, a
        queued job goes back to the place its last stamp gave it."""
        intake = self.intake
        intake.count(status, 1)
        job._moves += 1
        job.status = status
        if status == PROCESSING:
            # A job in hand keeps the stamp of its place in the queue, to
            # go back there if it is given back unstarted.
            job.worker = worker
            if worker is not None:
                self.workers[worker].hold(job.id, job.attempts)
                return
        elif again and job._stamp is not None:
            job._stamp = stamps.again(job._stamp)
        else:
            job._stamp = stamps.nextStamp(self, self.epoch)
        intake.append(job)
        if status in FINISHED:
            self.countFinished(status)
            dependencies.settle(self, job)
        if len(intake.jobs) >= DRAIN_AFTER_COMMIT_AT:
            drainapart.drainAfterCommit(self)

    def countFinished(self, status: str) -> None:
        """Count a job finished with `status` now, for the charts."""
        minute = int(time.time() // 60)
        rolled = self.intake.finished(status, minute)
        if rolled is not None:
            self.activityLog.add(rolled, minute)

    def take(self, job) -> None:
        """Take a job out of where it is (see `place`): its entry is left
        to readers to pass as dead."""
        self.intake.count(job.status, -1)
        job._moves += 1
        if job.status == PROCESSING:
            if job.worker is not None:
                holder = self.workers.get(job.worker)
                if holder is not None:
                    holder.release(job.id)
            if job._limits:
                for scope in job._limits:
                    limit = self.limits.get(scope)
                    if limit is not None:
                        limit.ended()
                del job._limits

    def start(self, job, workerId: Optional[str], rules=(),
              now: Optional[float] = None) -> None:
        """Move a queued job into the hands of `workerId` for a new attempt,
        counted in the limits of `rules` (see `limits`)."""
        now = time.time() if now is None else now
        self.take(job)
        job.attempts += 1
        job.started = now
        # The last attempt's end and error are in the history: shown as
        # the job's own, they would pass for this attempt's.
        if job.completed is not None:
            job.completed = None
        if job.error is not None:
            job.error = None
        if rules:
            for scope, maximum, rate in rules:
                self.limitOf(scope, maximum, rate).started(job.id, now)
            job._limits = tuple(scope for scope, _, _ in rules)
        self.place(job, PROCESSING, worker=workerId)

    def limitOf(self, scope: tuple, maximum=None, rate=None) -> Limit:
        """The limit of `scope`, made when first needed, with the rules in
        force."""
        limit = self.limits.get(scope)
        if limit is None:
            limit = self.limits[scope] = Limit(scope)
        limit.configure(maximum, rate)
        return limit

    def move(self, job, status: str, **where) -> None:
        reopened = job.status in FINISHED and status not in FINISHED
        self.take(job)
        self.place(job, status, **where)
        if reopened and job._dependents:
            dependencies.reopen(self, job)

    def remove(self, job) -> None:
        """Take a job out of the store for good: nothing keeps it from a
        pack's garbage collection then."""
        finished = job.status in FINISHED
        self.take(job)
        job.status = REMOVED
        if not finished:         # those waiting for it wait no more
            dependencies.settle(self, job)
        if self.byId.get(job.id) is job:
            self.byId.remove(job.id)
        intake = self.intake
        if any(moved is job for moved in intake.jobs):
            intake.jobs = tuple(moved for moved in intake.jobs
                                if moved is not job)
        indexing.noteRemoved(self, job)     # for the indexer to unindex

    # Keys and runs

    def pendingWithKey(self, key) -> Optional[int]:
        """The id of the job added with `key` that waits or runs, if any."""
        jobid = self.keys.get(key)
        if jobid is None:
            return None
        job = self.get(jobid)
        if job is None or job.status in FINISHED:
            return None
        return jobid

    def forgetKey(self, job) -> None:
        """Let another job take the key of `job`, which finished."""
        if job.key is not None:
            self.keys.discard(job.key, job.id)

    def newRun(self, cronjob):
        """A new job for one run of a cron job whose runs may overlap."""
        run = Job(None, cronjob.task, cronjob.input)
        run.runOf = cronjob.id
        run.priority = cronjob.priority
        for name in ('queue', 'partition'):      # stored when not default
            if name in cronjob.__dict__:
                setattr(run, name, getattr(cronjob, name))
        if cronjob.owner is not None:
            run.owner = cronjob.owner
        return self.newId(run)

    # Counts

    def counts(self) -> Dict[str, int]:
        return dict(self.intake.counts)

    def count(self, status: str) -> int:
        return self.intake.counts.get(status, 0)

    # The drain

    def drain(self, most: int = DRAIN_MOST) -> int:
        """Sort the first `most` jobs of the intake into their places: new
        jobs into `byId`, each where its status says, if still there;
        return how many.  A bounded part: a flood added in one commit is
        sorted in short transactions, not one that conflicts all along."""
        intake = self.intake
        if not intake.jobs:
            return indexing.indexLater(self)     # what was left noted
        taken = intake.drain(most)
        # A job's last move only: filed twice, it would be claimed twice.
        seen = {id(job) for job in intake.jobs}
        byChannel, waiting = {}, []
        for job in reversed(taken):       # the last move of each job
            if id(job) in seen:
                continue
            seen.add(id(job))
            if job.status == REMOVED:
                continue
            jobid = job.id
            self.byId.add(job)
            if job._unregistered:
                waiting.append(job)
            if job.deadline is not None and not job.attempts and \
                    job.status not in FINISHED:
                # Here, not in `add`: a drain writes the index alone.
                self.deadlines.insert((job.deadline, jobid))
            channel = channelOf(job)
            if channel is not None and job._stamp is not None:
                byChannel.setdefault(channel, []).append(
                    stamps.entry(job._stamp, jobid))
        for channel, entries in byChannel.items():
            self.chain(channel).extend(sorted(entries))
        for job in waiting:         # once every job drained is in byId
            dependencies.register(self, job)
        dependencies.decideAll(self)
        hourly.record(self, taken)
        indexing.drained(self, taken)     # notes them for the indexer
        return len(taken)

    def drainIfDue(self, threshold: int = DRAIN_AT) -> int:
        if max(len(self.intake.jobs), indexing.pending(self)) >= threshold:
            return self.drain()
        return 0

    # Chains

    def chain(self, channel: tuple) -> Chain:
        """The chain of `channel`, made when first needed."""
        chain = self.chains.get(channel)
        if chain is None or chain.retired:
            chain = self.chains[channel] = Chain(channel)
        return chain

    def retireChain(self, chain: Chain) -> None:
        """Take an empty chain out, so that channels that come and go
        (tasks, partitions) cost nothing once empty."""
        if self.chains.get(chain.channel) is chain:
            chain.retired = True
            del self.chains[chain.channel]

    def chainsOf(self, status: str) -> List[Chain]:
        """The chains of jobs of `status`."""
        return list(self.chains.values(min=(status,), max=(status, LAST)))

    def intakeJobs(self, most: Optional[int] = None, start: int = 0) -> list:
        """The jobs of the intake, each once, in the state they are in;
        with `most`, of its `most` entries from `start` only (the oldest)."""
        found, seen = [], set()
        end = None if most is None else start + most
        for job in self.intake.jobs[start:end]:
            if id(job) not in seen:
                seen.add(id(job))
                if job.status != REMOVED:
                    found.append(job)
        return found

    def live(self, channel: tuple, value: int):
        """The job of a chain entry, or None if the entry is dead.  (A job
        in a chain went through a drain: it is in `byId` unless removed.)"""
        job = self.byId.get(stamps.entryId(value))
        if job is None or job._stamp != stamps.entryStamp(value) or \
                channelOf(job) != channel:
            return None
        return job

    def waiting(self, channel: tuple) -> list:
        """The jobs of the intake that wait in `channel`, by stamp."""
        return sorted((job for job in self.intakeJobs()
                       if job._stamp is not None and
                       channelOf(job) == channel),
                      key=lambda job: (job._stamp, job.id))
