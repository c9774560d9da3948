"""A function for ProcessTask, which needs it importable."""
import time


def sleepFor(seconds):
    time.sleep(seconds)
    return seconds
