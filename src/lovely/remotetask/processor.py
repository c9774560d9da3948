"""The seed's import path of the processors (they live in
`runtime.processor`)."""
from lovely.remotetask.runtime.processor import (
    THREAD_STARTUP_WAIT, MultiProcessor, SimpleProcessor)

__all__ = ['MultiProcessor', 'SimpleProcessor', 'THREAD_STARTUP_WAIT']
