"""Tasks for the process-pool tests. A spawned process imports a task's module by name, which a
test module (imported by path) cannot be; this one is on the tests' import path."""

from __future__ import annotations

import os
import threading
import time

#: Held by a thread of the test process while a pool starts (test_executors.py).
LOCK = threading.Lock()


def pid(_: int) -> int:
    return os.getpid()


def under_lock(value: int) -> int:
    with LOCK:
        return value


def square(value: int) -> int:
    return value * value


def refuse_three(value: int) -> int:
    """Fails on task 3 with the product's own error type (the caller must see it as such)."""
    from models.base import ModelError

    if value == 3:
        raise ModelError(f"series {value} cannot be fitted")
    return value


def nap(value: int) -> int:
    """Later tasks finish first: results must still come back in task order."""
    time.sleep(0.05 * (5 - value % 5))
    return value
