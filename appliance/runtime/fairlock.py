"""A lock granted in arrival order.

``threading.Lock`` lets a releasing thread take the lock straight back: a
handler thread that finishes one transcription and picks the next queued
request re-acquires before the thread that has been waiting is even
scheduled.  On a loaded two-core kiosk that starved /stt for minutes behind
a stream of audio handshakes.  Here the releasing thread hands the lock to
the longest waiter, so every request waits at most for those ahead of it.
"""

from __future__ import annotations

import collections
import threading


class FairLock:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: collections.deque[threading.Lock] = collections.deque()
        self._held = False

    def acquire(self) -> bool:
        with self._guard:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the holder when it hands the lock over
        return True

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # still held: now by the first waiter
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        """Threads waiting for the lock."""
        return len(self._waiters)

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *_) -> None:
        self.release()
