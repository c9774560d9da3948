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

#: Jobs on a page of the API or the dashboard: the default and the most.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

#: How many jobs "cancel all" cancels per transaction, as the seed did, so
#: that one request does not hold one huge transaction.
CANCEL_BATCH = 100

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

#: Worker threads of waitress for ``serve``.
THREADS = 4
