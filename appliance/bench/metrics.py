"""Metrics: what a Prometheus scrape costs, and what it costs the citizen's flow.

- scrape: median wall time of ``GET /metrics`` (supervisor snapshot over the bus, the outbox summary
  when sync runs, rendering), beside ``GET /health`` (the same supervisor round trip, JSON only);
- handshake while scraped: median latency of a text handshake while a client scrapes /metrics ten
  times a second (ten times a tight fleet's 1 s interval), beside the same handshakes unscraped,
  interleaved in rounds so a burst of machine load hits both alike;
- the scrape's size (bytes, series).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request

from .gateway import HANDSHAKE
from .service import Service
from .stats import figure, interleaved_ms

SCRAPE_EVERY = 0.1
"""Seconds between scrapes of the loaded measurement (a fleet scrapes every 15–60 s)."""


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _handshake(url: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(HANDSHAKE, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _handshakes_ms(url: str, seconds: float) -> list[float]:
    """Handshakes one after another for `seconds`: each one's latency."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        _handshake(url)
        times.append((time.perf_counter() - t0) * 1000)
    return times


class Scraper:
    """A background client scraping /metrics every SCRAPE_EVERY seconds while the flag is set."""

    def __init__(self, url: str):
        self.url, self.on, self.done = url, threading.Event(), threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            if self.on.is_set():
                _get(self.url)
                self.count += 1
                time.sleep(SCRAPE_EVERY)
            else:
                self.on.wait(0.01)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)


def run(service: Service, quick: bool) -> dict:
    metrics_url = f"http://127.0.0.1:{service.ports['metrics']}/metrics"
    repeats = 10 if quick else 40
    health_url = service.url("/health")
    medians = interleaved_ms(
        {"metrics": lambda: _get(metrics_url), "health": lambda: _get(health_url)}, repeats, warmup=2
    )
    page = _get(metrics_url).decode()
    series = sum(1 for line in page.splitlines() if line and not line.startswith("#"))
    rounds, seconds = (3, 1.0) if quick else (6, 2.0)
    scraper = Scraper(metrics_url)
    idle: list[float] = []
    scraped: list[float] = []
    try:
        _handshakes_ms(service.url("/handshake"), 0.3)  # warm
        for _ in range(rounds):
            idle += _handshakes_ms(service.url("/handshake"), seconds)
            scraper.on.set()
            scraped += _handshakes_ms(service.url("/handshake"), seconds)
            scraper.on.clear()
    finally:
        scraper.stop()
    return {
        "scrape": figure(
            medians["metrics"],
            "ms",
            medians["health"],
            "GET /health (same supervisor round trip)",
            n=repeats,
            note=f"{len(page)} bytes, {series} series",
        ),
        "handshake_while_scraped": figure(
            statistics.median(scraped),
            "ms",
            statistics.median(idle),
            "the same handshakes unscraped",
            n=len(scraped),
            note=f"/metrics scraped every {SCRAPE_EVERY:g} s ({scraper.count} scrapes)",
        ),
    }
