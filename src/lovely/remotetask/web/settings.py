"""The Web service's defaults, in one place for the application and ``serve``.

The application takes them as keyword options of `makeApp`; the command
line offers the same names as flags and reads the credentials from the
environment variables named here.
"""

#: Where ``serve`` listens unless told otherwise.  Loopback: off loopback
#: ``serve`` insists on configured credentials.
HOST = '127.0.0.1'
PORT = 8080

#: Requests with a larger body are refused with 413 before it is read.
MAX_BODY_SIZE = 1024 * 1024

#: How deep the JSON of a request (or the values of an XML-RPC call) may
#: nest.  Deeper values are refused with 400: the parsers, pickling and the
#: encoders of the answers all recurse, and a task's input has no need of
#: more.
MAX_DEPTH = 64

#: The longest number a request may spell out, in characters: 64-bit
#: values need 20.  Longer ones are refused before they are converted, which
#: for thousands of digits would cost time for nothing.
MAX_NUMBER_LENGTH = 40

#: The longest text taken for a field of a schedule (``minute``, ``cron``,
#: ``timezone``...), in characters.
MAX_FIELD_LENGTH = 1000

#: The minutes of activity a service counts (``ITaskService.activity``:
#: the last hour), the most the API's ``minutes=`` takes.
ACTIVITY_MINUTES = 60

#: The queued and held jobs the service page counts in each channel (queue,
#: task, priority, partition), shown as "100+" past it: a count reads
#: each job, and a queue of 50,000 jobs would be read to the last.
QUEUE_COUNT_MOST = 100

#: Jobs on a page of the API or the dashboard: the default and the most.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

#: How many jobs "cancel all" cancels per transaction, as the seed did, so
#: that one request does not hold one huge transaction.
CANCEL_BATCH = 100

#: How many jobs "retry all" retries per transaction, for the same reason.
RETRY_BATCH = 100

#: How often a request whose transaction conflicted is tried in all.
ATTEMPTS = 3

#: Seconds a dashboard login lasts.
SESSION_LIFETIME = 12 * 60 * 60

#: Milliseconds between the dashboard's refreshes of the job states shown.
REFRESH_INTERVAL = 2000

#: Credentials for ``serve``: comma-separated tokens per right.
MANAGE_TOKEN_VARIABLE = 'REMOTETASK_MANAGE_TOKEN'
READ_TOKEN_VARIABLE = 'REMOTETASK_READ_TOKEN'

#: Configured tokens shorter than this are refused: a token is a password
#: that a browser and scripts keep, so it had better be a random one.
MIN_TOKEN_LENGTH = 16

#: Worker threads of waitress for ``serve``.  A request has a thread only
#: once it has arrived whole: slow clients hold a connection, not a thread.
THREADS = 4

#: Connections ``serve`` keeps open at once; past it, new ones wait in the
#: listen queue until others end.  Idle and half-sent connections cost a
#: socket each, no thread, so the limit can be high (waitress's own default
#: is 100, which 101 idle connections exhaust).
CONNECTION_LIMIT = 1000

#: Seconds a connection may stay silent (idle between requests, or in the
#: middle of one) before ``serve`` closes it (waitress's default: 120).
CHANNEL_TIMEOUT = 30

#: Connections the operating system queues for ``serve`` to accept.
BACKLOG = 1024

#: The most bytes of request line and headers ``serve`` reads of a request
#: (waitress's default: 256 KiB); past it, the answer is 431.
MAX_HEADER_SIZE = 64 * 1024
