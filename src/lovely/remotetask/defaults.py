"""The defaults of services, processors and workers, in one place.

The Python API takes them as keyword arguments, the command line as flags
of the same meaning; both read them from here.
"""

#: Seconds an idle processor waits before it looks for jobs again (new
#: jobs of this process wake it at once; over ZEO, others' too).
WAIT_TIME = 1.0

#: Seconds a worker's jobs stay leased to it after its last heartbeat.
LEASE_TIME = 60.0

#: Seconds a stopping worker gives the jobs in hand to finish.
GRACE_TIME = 30.0

#: Attempts a job gets for unexpected exceptions before it fails (the
#: seed's rule), unless its task's retry policy says otherwise.
MAX_ATTEMPTS = 3

#: Seconds a task past its time limit gets to stop before it is reported
#: timed out and its slot given to the next job.
STOP_GRACE = 0.5

#: Seconds a worker keeps trying to record an outcome (the database may be
#: away for a while) before it leaves the job to be taken back.
RECORD_TIMEOUT = 60.0

#: How often a task whose transaction conflicted runs again before the
#: conflict counts as a failed attempt; the waits between grow from
#: CONFLICT_WAIT seconds, with jitter.
CONFLICT_RETRIES = 10
CONFLICT_WAIT = 0.005

#: The most bytes a job's input, result or error may take when stored.
#: Larger ones are refused (an input) or fail the job (a result), and
#: nothing big is written.
MAX_STORED_SIZE = 4 * 1024 * 1024

#: Seconds of history an automatic pack keeps (see `packing`): longer than
#: the longest transaction, which may still read what a pack removes.
PACK_KEEP = 600.0

#: The least history a pack keeps, whatever it is asked: a transaction
#: that began before the pack time may still read a revision the pack
#: would drop (and fail), or need it to resolve a conflict at its commit
#: (and conflict).  Longer than any step of a processor takes, with room
#: for the clocks of the packer and the storage server to differ.
PACK_KEEP_MIN = 10.0

#: Seconds a pack's lease on its database lasts after the packer last
#: renewed it; a packer that died holding it loses it then.
PACK_LEASE_TIME = 60.0
