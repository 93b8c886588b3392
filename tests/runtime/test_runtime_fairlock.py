"""FairLock: granted in arrival order; a releasing thread cannot barge back in ahead of a waiter."""

import threading
import time

import pytest

from appliance.runtime.fairlock import FairLock


def wait_for(predicate, seconds=10.0):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


def test_a_releasing_thread_goes_behind_the_waiter():
    """What starved /stt: the holder finishes, takes its next job and asks again at once."""
    lock, order = FairLock(), []
    lock.acquire()

    def waiter():
        with lock:
            order.append("waiter")

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: lock.waiting == 1)
    lock.release()
    with lock:  # a plain threading.Lock would usually let this win
        order.append("holder again")
    t.join(5)
    assert order == ["waiter", "holder again"]


def test_waiters_are_served_in_arrival_order():
    lock, order = FairLock(), []
    lock.acquire()
    threads = []
    for i in range(6):
        t = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        t.start()
        wait_for(lambda n=i + 1: lock.waiting == n)
        threads.append(t)
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(6)) and not lock.locked()


def test_release_of_an_unheld_lock_is_an_error():
    with pytest.raises(RuntimeError):
        FairLock().release()
