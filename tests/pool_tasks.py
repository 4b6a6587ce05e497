"""Tasks for the process-pool tests. A spawned process imports a task's module by name, which a
test module (imported by path) cannot be; this one is on the tests' import path."""

from __future__ import annotations

import os
import threading

#: Held by a thread of the test process while a pool starts (test_executors.py).
LOCK = threading.Lock()


def pid(_: int) -> int:
    return os.getpid()


def under_lock(value: int) -> int:
    with LOCK:
        return value


def square(value: int) -> int:
    return value * value
