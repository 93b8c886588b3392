"""Upstream and outbox series with the real sync worker and the Tencent-style simulator: a delivered
enrolment is one `reg` call ok; with the upstream down the failures and the backlog's age show."""

from __future__ import annotations

import sys
from pathlib import Path

from harness import ROOT, Appliance

sys.path.insert(0, str(ROOT / "tests" / "sync"))
sys.path.insert(0, str(Path(__file__).parent))

from sync_helpers import frames_of, sync_env, tencent_sim, train, wait_for  # noqa: E402
from test_fleet_metrics import samples, scrape, value  # noqa: E402

from appliance import store  # noqa: E402
from appliance.runtime import endpoints  # noqa: E402
from appliance.store import citizens  # noqa: E402


def scraped_when(app, condition):
    """The parsed page when `condition` holds for it, else None (the heartbeat may not have come yet)."""
    page = samples(scrape(app))
    return page if condition(page) else None


def test_upstream_calls_and_outbox_backlog(tmp_path: Path):
    sim = tencent_sim(tmp_path, tmp_path / "registrations.jsonl").start()
    app = Appliance(
        workers="face,sync,gateway", env=sync_env(f"http://127.0.0.1:{sim.port}/tech/ai/face/")
    ).wait_ready()
    try:
        store.open_database(endpoints.database_path(app.data_dir))
        citizens.upsert("obama", {"name": "奥巴马", "id_card": "11010119610804001X"})
        citizens.upsert("biden", {"name": "拜登", "id_card": "110101194211200011"})
        train(app, "obama", frames_of("obama_1.jpg"))

        def delivered(s):
            return (
                value(s, "kiosk_sync_outbox_items", state="delivered") == 1
                and value(s, "kiosk_upstream_requests_total", api="reg", outcome="ok") == 1
            )

        page = wait_for(lambda: scraped_when(app, delivered), 30, "obama's reg counted")
        assert value(page, "kiosk_upstream_duration_seconds_count", api="reg") == 1
        assert value(page, "kiosk_upstream_requests_total", api="reg", outcome="unreachable") == 0
        assert value(page, "kiosk_sync_outbox_oldest_pending_seconds") == 0
        sim.stop()
        train(app, "biden", frames_of("biden.jpg"))
        wait_for(
            lambda: value(samples(scrape(app)), "kiosk_sync_outbox_oldest_pending_seconds") > 0,
            30,
            "biden queued",
        )

        def failed(s):
            return value(s, "kiosk_upstream_requests_total", api="reg", outcome="unreachable") >= 1

        page = wait_for(lambda: scraped_when(app, failed), 30, "an unreachable reg counted")
        assert (
            value(page, "kiosk_sync_outbox_items", state="pending")
            + value(page, "kiosk_sync_outbox_items", state="waiting")
            == 1
        )
        assert value(page, "kiosk_sync_outbox_oldest_pending_seconds") > 0
        assert value(page, "kiosk_upstream_requests_total", api="reg", outcome="ok") == 1
    finally:
        app.stop()
        sim.stop()
