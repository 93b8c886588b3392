"""The supervisor: the one process systemd sees.

It spawns every worker, proxies events, collects heartbeats, tells systemd
READY once every worker is ready, pings the watchdog only while every
heartbeat is fresh, restarts dead or stuck workers within a budget, and on
SIGTERM stops workers in reverse order.

Recovery: a worker in ``supervisor.spares`` has a warm spare, a second process
that has loaded the models (``prepare``) and waits; when the worker dies the
spare is promoted (SIGUSR1) and serves within a fraction of a second, and a
new spare loads in the background.  The backoff protects against crash loops
only: a worker that served for ``supervisor.healthy_after`` seconds is
restarted at once when it dies; deaths closer together double the wait up to
``backoff_max``; more than ``restart_budget`` deaths in ``restart_window`` end
the service (systemd restarts it).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import peewee
import zmq

from .. import store
from ..config import Settings
from ..metrics.labels import restart_reason
from ..store.keys import DatabaseKeyError
from . import bus, endpoints
from .protocol import ExitCode, Heartbeat, Kind, WorkerState
from .sdnotify import Notifier
from .worker import PROMOTE

log = logging.getLogger(__name__)

SPARE_RETRY_MAX = 60.0
"""Longest wait before starting again a spare that died while waiting (it is not the service's worker)."""
SPARE_IDLE_WAIT = 30.0
"""A spare starts loading at a quiet moment (no request in flight anywhere), or after this many seconds
of waiting for one: a kiosk that is never quiet still gets its spares."""
FRESH_BEATS, FRESH_FLOOR = 3, 2.0
"""A heartbeat older than this many intervals (and at least this many seconds: a busy machine
hiccups) is stale: no watchdog ping, /health unhealthy."""


@dataclass
class Worker:
    """The supervisor's record of one worker (and of its warm spare)."""

    name: str
    proc: subprocess.Popen | None = None
    state: WorkerState = WorkerState.STOPPED
    started: float = 0.0
    ready_at: float = 0.0
    last_beat: float = 0.0
    beat: Heartbeat = field(default_factory=Heartbeat)
    restarts: int = 0
    failures: int = 0  # deaths in a row without a healthy spell between them, for the backoff
    restart_at: float = 0.0
    last_exit: str = ""
    fatal: str = ""  # the reason a worker gave before exiting
    reasons: dict[str, int] = field(default_factory=dict)  # restarts by metrics.labels.restart_reason
    spare: subprocess.Popen | None = None
    spare_warm: bool = False
    spare_at: float = 0.0  # no spare before this moment (one that died waits)
    spare_failures: int = 0

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.proc.pid if self.proc else None,
            "uptime": round(now - self.started, 1) if self.proc else 0.0,
            "ready_for": round(now - self.ready_at, 1) if self.ready_at else 0.0,  # the healthy spell so far
            "heartbeat_age": round(now - self.last_beat, 2) if self.last_beat else None,
            "restarts": self.restarts,
            "restart_reasons": dict(self.reasons),
            "last_exit": self.last_exit,
            "inflight": self.beat.inflight,
            "handled": self.beat.handled,
            "rss": self.beat.rss,
            "status": self.beat.status,
            "spare": None if self.spare is None else ("warm" if self.spare_warm else "loading"),
            "spare_pid": self.spare.pid if self.spare else None,
        }


class Supervisor:
    def __init__(self, settings: Settings, config_path: str | None = None):
        self.settings = settings
        self.config_path = config_path or settings.source
        self.sup = settings.supervisor
        self.workers = {name: Worker(name) for name in self.sup.workers}
        self.notifier = Notifier()
        self.ctx = zmq.Context()
        self._stop = threading.Event()
        self._restart_times: collections.deque[float] = collections.deque()
        self._ready_sent = False
        self._spare_wanted_since: float | None = None
        self._last_watchdog = 0.0
        self._last_status = ""
        self._started = time.monotonic()
        self.exit_code = ExitCode.OK

    # -- life cycle ----------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        self._prepare_dirs()
        try:
            store.migrate(store.open_settings(self.settings))
        except (DatabaseKeyError, peewee.DatabaseError, RuntimeError) as exc:
            log.error("cannot open the database: %s", exc)
            self.notifier.status(f"failed: database: {exc}")
            return ExitCode.USAGE
        self._start_proxy()
        control = self._bind(zmq.PULL, endpoints.supervisor_control(self.settings.runtime_dir))
        requests = self._bind(zmq.ROUTER, endpoints.supervisor_requests(self.settings.runtime_dir))
        self.notifier.status(f"starting {len(self.workers)} workers")
        for worker in self.workers.values():
            self._spawn(worker)
        try:
            self._loop(control, requests)
        finally:
            self._shutdown()
            control.close(linger=0)
            requests.close(linger=0)
            self.ctx.term()
        return self.exit_code

    def _prepare_dirs(self) -> None:
        self.settings.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in list(self.workers) + ["supervisor"]:  # stale sockets of a killed predecessor
            stale = self.settings.runtime_dir / f"{name}.req"
            stale.unlink(missing_ok=True)

    def _bind(self, kind: int, endpoint: str) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint)
        return sock

    def _start_proxy(self) -> None:
        xsub = self._bind(zmq.XSUB, endpoints.events_in(self.settings.runtime_dir))
        xpub = self._bind(zmq.XPUB, endpoints.events_out(self.settings.runtime_dir))
        xpub.setsockopt(zmq.SNDHWM, bus.EVENT_HWM)

        def proxy() -> None:
            try:
                zmq.proxy(xsub, xpub)
            except zmq.ContextTerminated:
                pass
            finally:
                xsub.close(linger=0)
                xpub.close(linger=0)

        threading.Thread(target=proxy, name="events-proxy", daemon=True).start()

    # -- the loop --------------------------------------------------------
    def _loop(self, control: zmq.Socket, requests: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(control, zmq.POLLIN)
        poller.register(requests, zmq.POLLIN)
        while not self._stop.is_set():
            events = dict(poller.poll(200))
            if control in events:
                self._drain_control(control)
            if requests in events:
                self._answer(requests)
            if (
                self._stop.is_set()
            ):  # a terminal's Ctrl-C reaches the workers too: they exit, nothing to restart
                return
            now = time.monotonic()
            for worker in self.workers.values():
                self._check(worker, now)
            if self.exit_code:
                return
            self._start_spares(now)
            self._notify(now)

    def _drain_control(self, control: zmq.Socket) -> None:
        while True:
            try:
                message, _ = bus.decode(control.recv_multipart(flags=zmq.NOBLOCK))
            except zmq.Again:
                return
            except ValueError:
                continue
            worker = self.workers.get(message.get("worker", ""))
            if worker is None:
                continue
            pid, kind = message.get("pid"), message.get("kind")
            if worker.spare is not None and pid == worker.spare.pid:
                self._spare_says(worker, kind, message)
                continue
            if worker.proc is None or pid != worker.proc.pid:
                continue  # a message from a predecessor we already replaced
            worker.last_beat = time.monotonic()
            if kind == Kind.READY:
                worker.state, worker.ready_at = WorkerState.READY, worker.last_beat
                worker.beat = Heartbeat.of({"status": message.get("status")})
                log.info("%s ready after %.1fs", worker.name, worker.last_beat - worker.started)
            elif kind == Kind.HEARTBEAT:
                worker.beat = Heartbeat.of(message)
            elif kind == Kind.FATAL:
                worker.fatal = message.get("reason", "fatal")
            elif kind == Kind.SPARE:  # a spare promoted while it was loading: now it listens
                worker.proc.send_signal(PROMOTE)

    @staticmethod
    def _spare_says(worker: Worker, kind: Any, message: dict) -> None:
        if kind == Kind.SPARE:
            assert worker.spare is not None  # only a spare's messages come here
            worker.spare_warm, worker.spare_failures = True, 0
            log.info("%s: warm spare ready (pid %d)", worker.name, worker.spare.pid)
        elif kind == Kind.FATAL:
            log.warning("%s: the spare cannot start: %s", worker.name, message.get("reason", "fatal"))

    def _answer(self, requests: zmq.Socket) -> None:
        frames = requests.recv_multipart()
        try:
            header, _ = bus.decode(frames[1:])
        except (ValueError, IndexError):
            return
        reply = {"id": header.get("id"), "ok": True, **self.snapshot()}
        requests.send_multipart([frames[0], *bus.encode(reply)])

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        workers = [w.describe(now) for w in self.workers.values()]
        return {
            "pid": os.getpid(),
            "uptime": round(now - self._started, 1),
            "ready": self._ready_sent,
            "healthy": self._all_healthy(now),
            "workers": workers,
            "restarts_in_window": len(self._restart_times),
        }

    # -- workers -----------------------------------------------------------
    def _command(self, worker: Worker, *extra: str) -> list[str]:
        command = [sys.executable, "-m", "appliance.workers", worker.name, *extra]
        return command + (["--config", str(self.config_path)] if self.config_path else [])

    def _spawn(self, worker: Worker) -> None:
        worker.proc = subprocess.Popen(self._command(worker), close_fds=True)
        self._starting(worker)
        log.info("started %s (pid %d)", worker.name, worker.proc.pid)

    def _starting(self, worker: Worker) -> None:
        worker.state, worker.started = WorkerState.STARTING, time.monotonic()
        worker.ready_at, worker.last_beat = 0.0, 0.0
        worker.beat, worker.fatal = Heartbeat(), ""

    def _start_again(self, worker: Worker) -> None:
        """Promote the spare if there is one. One still loading is ahead of a cold start too: it is
        promoted as soon as it says it is warm (before that it may not be listening for the signal)."""
        spare = worker.spare
        if spare is None or spare.poll() is not None:
            return self._spawn(worker)
        if worker.spare_warm:
            spare.send_signal(PROMOTE)
        log.info(
            "%s: promoted the %s spare (pid %d)",
            worker.name,
            "warm" if worker.spare_warm else "loading",
            spare.pid,
        )
        worker.proc, worker.spare, worker.spare_warm = spare, None, False
        self._starting(worker)

    def _check(self, worker: Worker, now: float) -> None:
        self._check_spare(worker, now)
        if worker.state == WorkerState.BACKOFF:
            if now >= worker.restart_at:
                self._start_again(worker)
            return
        if worker.proc is None:
            return
        code = worker.proc.poll()
        if code is not None:
            reason = worker.fatal or f"exit code {code}"
            if code == ExitCode.WORKER_CONFIG:
                worker.last_exit = reason
                return self._give_up(ExitCode.START, f"{worker.name} cannot start: {reason}")
            return self._restart(worker, f"died ({reason})", now, kill=False)
        if worker.state == WorkerState.STARTING and now - worker.started > self.sup.ready_timeout:
            return self._restart(worker, f"not ready after {self.sup.ready_timeout:.0f}s", now)
        if worker.state == WorkerState.READY:
            if now - worker.last_beat > self.sup.heartbeat_timeout:
                return self._restart(worker, f"no heartbeat for {now - worker.last_beat:.1f}s", now)
            if worker.beat.oldest > self.sup.stuck_timeout:
                return self._restart(worker, f"a request stuck for {worker.beat.oldest:.0f}s", now)

    def _check_spare(self, worker: Worker, now: float) -> None:
        """Reap a spare that died (another is started later, see _start_spares)."""
        spare = worker.spare
        if spare is None or spare.poll() is None:
            return
        worker.spare, worker.spare_warm = None, False
        worker.spare_failures += 1
        worker.spare_at = now + min(SPARE_RETRY_MAX, 2.0**worker.spare_failures)
        log.warning(
            "%s: the spare (pid %d) exited with %s; another in %.0fs",
            worker.name,
            spare.pid,
            spare.returncode,
            worker.spare_at - now,
        )

    def _start_spares(self, now: float) -> None:
        """One spare loads at a time, in supervisor.spares order, once the service is serving and the
        worker itself is ready, at a quiet moment if one comes: loading is CPU live traffic would have."""
        if not self._ready_sent or self.exit_code:
            return
        wanted = [self.workers[name] for name in self.sup.spares if name in self.workers]
        if any(w.spare is not None and not w.spare_warm for w in wanted):
            return
        due = [w for w in wanted if w.spare is None and w.state == WorkerState.READY and now >= w.spare_at]
        if not due:
            self._spare_wanted_since = None
            return
        if self._spare_wanted_since is None:
            self._spare_wanted_since = now
        busy = any(w.beat.inflight for w in self.workers.values())
        if busy and now - self._spare_wanted_since < SPARE_IDLE_WAIT:
            return
        due[0].spare = subprocess.Popen(self._command(due[0], "--spare"), close_fds=True)
        self._spare_wanted_since = None

    def _restart(self, worker: Worker, why: str, now: float, kill: bool = True) -> None:
        if kill and worker.proc is not None:
            worker.proc.kill()
        if worker.proc is not None:
            worker.proc.wait()
        worker.last_exit = why
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > self.sup.restart_window:
            self._restart_times.popleft()
        if len(self._restart_times) > self.sup.restart_budget:
            return self._give_up(
                ExitCode.BUDGET,
                f"restart budget exhausted ({len(self._restart_times)} restarts "
                f"in {self.sup.restart_window:.0f}s; last: {worker.name} {why})",
            )
        delay = self._backoff(worker, now)
        log.warning("%s %s; restarting in %.1fs", worker.name, why, delay)
        worker.restarts += 1
        reason = restart_reason(why)
        worker.reasons[reason] = worker.reasons.get(reason, 0) + 1
        worker.proc, worker.state, worker.restart_at = None, WorkerState.BACKOFF, now + delay
        if delay == 0:
            self._start_again(worker)

    def _backoff(self, worker: Worker, now: float) -> float:
        """No wait after a healthy spell (a single kill, a rare crash); deaths closer together than
        healthy_after are a crash loop: 0.5 s, 1 s, 2 s … up to backoff_max."""
        if worker.ready_at and now - worker.ready_at >= self.sup.healthy_after:
            worker.failures = 0
        delay = min(self.sup.backoff_max, 0.25 * (2**worker.failures)) if worker.failures else 0.0
        worker.failures += 1
        return delay

    def _give_up(self, code: ExitCode, why: str) -> None:
        log.error("giving up: %s", why)
        self.notifier.status(f"failed: {why}")
        self.exit_code = code

    # -- systemd -------------------------------------------------------------
    def _all_healthy(self, now: float) -> bool:
        """Every worker ready and its heartbeat fresh: at most FRESH_BEATS intervals old. The watchdog
        stops well before heartbeat_timeout, when the supervisor itself restarts the worker; so a
        supervisor that fails to do that is restarted by systemd after WatchdogSec."""
        fresh = min(self.sup.heartbeat_timeout, max(FRESH_BEATS * self.sup.heartbeat_interval, FRESH_FLOOR))
        return all(w.state == WorkerState.READY and now - w.last_beat <= fresh for w in self.workers.values())

    def _notify(self, now: float) -> None:
        healthy = self._all_healthy(now)
        if healthy and not self._ready_sent:
            self._ready_sent = True
            self.notifier.ready(self._status_line(now))
            log.info("all %d workers ready: %s", len(self.workers), self._status_line(now))
        line = self._status_line(now)
        if line != self._last_status:
            self.notifier.status(line)
            self._last_status = line
        interval = self.notifier.watchdog_interval
        if healthy and interval and now - self._last_watchdog >= interval:
            self.notifier.watchdog()  # only while every heartbeat is fresh
            self._last_watchdog = now

    def _status_line(self, now: float) -> str:
        ready = sum(w.state == WorkerState.READY for w in self.workers.values())
        waiting = [f"{w.name} {w.state}" for w in self.workers.values() if w.state != WorkerState.READY]
        restarts = sum(w.restarts for w in self.workers.values())
        text = f"{ready}/{len(self.workers)} workers ready; {restarts} restarts"
        return text + ("; " + ", ".join(waiting) if waiting else "; serving")

    def _shutdown(self) -> None:
        self.notifier.stopping("stopping workers")
        spares = [w.spare for w in self.workers.values() if w.spare is not None]
        for spare in spares:  # idle: they stop at once (SIGTERM's default action while they wait)
            spare.terminate()
        for spare in spares:
            try:
                spare.wait(self.sup.stop_timeout)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait()
        for worker in reversed(list(self.workers.values())):
            proc = worker.proc
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(self.sup.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.1fs; killing", worker.name, self.sup.stop_timeout)
                proc.kill()
                proc.wait()
            worker.state = WorkerState.STOPPED
        log.info("all workers stopped")
