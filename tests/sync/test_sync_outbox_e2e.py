"""The outbox end to end, with real processes: the appliance (face, sync,
gateway) and the Tencent-style simulator.  Enrolments made while the
upstream is down, while the appliance restarts, and while the citizen's
record is still missing all arrive upstream exactly once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT, Appliance  # noqa: E402
from sync_helpers import (
    frames_of,
    sync_env,
    sync_request,
    tencent_sim,
    train,  # noqa: E402
    variant,
    wait_for,
)

from appliance import store  # noqa: E402
from appliance.runtime import endpoints  # noqa: E402
from appliance.store import citizens  # noqa: E402
from appliance.store import faces as face_store  # noqa: E402

IDS = {
    "obama": "11010119610804001X",
    "biden": "110101194211200011",
    "astronaut": "110101196001010022",
    "late": "110101198001010033",
}
NAMES = {"obama": "奥巴马", "biden": "拜登", "astronaut": "宇航员", "late": "迟到"}


def counts(app) -> dict:
    return sync_request(app, "status")["outbox"]["counts"]


def item_of(app, user_id: str) -> dict | None:
    items = sync_request(app, "status", {"limit": 100})["outbox"]["items"]
    return next((i for i in items if i["user_id"] == user_id), None)


def cli(app, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from appliance import cli; sys.exit(cli.main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=app.env, capture_output=True, text=True, timeout=60
    )


def test_every_enrolment_arrives_exactly_once(tmp_path):
    journal = tmp_path / "registrations.jsonl"
    sim = tencent_sim(tmp_path, journal).start()
    env = sync_env(
        f"http://127.0.0.1:{sim.port}/tech/ai/face/", APPLIANCE_FACE_ALLOW_DUPLICATE_ENROLMENT="true"
    )  # "late" reuses an Obama photo
    app = Appliance(workers="face,sync,gateway", env=env).wait_ready()
    env["APPLIANCE_PATHS_DATA_DIR"] = str(app.data_dir)  # the restarted appliance keeps its database
    try:
        store.open_database(endpoints.database_path(app.data_dir))
        for user in ("obama", "biden", "astronaut"):
            citizens.upsert(user, {"name": NAMES[user], "id_card": IDS[user]})

        # 1. upstream up: delivered at once
        train(app, "obama", frames_of("obama_1.jpg"))
        wait_for(lambda: sim.state()["registrations"].get(IDS["obama"]) == 1, 60, "obama registered")

        # 2. upstream down: the enrolment waits in the outbox, retried
        sim.stop()
        train(app, "biden", frames_of("biden.jpg"))
        wait_for(lambda: (item_of(app, "biden") or {}).get("attempts", 0) >= 2, 60, "biden retried")
        assert "unreachable" in item_of(app, "biden")["last_error"]
        assert app.stop() == 0

        # 3. appliance down too: an enrolment whose event nobody heard (reconciliation finds it)
        face_store.save_template("astronaut", "sface-2021dec", _template(), variant("astronaut.jpg", "none"))
        app = Appliance(workers="face,sync,gateway", env=env).wait_ready()
        wait_for(lambda: (item_of(app, "astronaut") or {}).get("attempts", 0) >= 1, 60, "astronaut queued")
        # an enrolment without name and ID number waits for storage, and is not a failure
        train(app, "late", frames_of("obama_3.jpg"))
        wait_for(lambda: (item_of(app, "late") or {}).get("state") == "waiting", 30, "late waiting")

        # 4. upstream back: everything arrives, once
        sim = tencent_sim(tmp_path, journal, sim.port).start()
        wait_for(lambda: counts(app)["delivered"] == 3, 90, "three delivered")
        citizens.upsert("late", {"name": NAMES["late"], "id_card": IDS["late"]})
        wait_for(lambda: counts(app)["delivered"] == 4, 60, "late delivered")
        registrations = sim.state()["registrations"]
        assert registrations == {IDS[u]: 1 for u in ("obama", "biden", "astronaut", "late")}, registrations
        assert counts(app)["pending"] == counts(app)["waiting"] == counts(app)["dead"] == 0

        # 5. a refusal (errcode ≠ 0) is retried, then dead-lettered; `sync retry` revives it
        sim.control("/_sim/fault", {"mode": "errcode", "errcode": 4321})
        train(app, "obama", [variant("obama_2.jpg", op) for op in ("none", "mirror", "rot", "crop")])
        wait_for(lambda: counts(app)["dead"] == 1, 60, "dead letter")
        dead = item_of(app, "obama")
        assert dead["state"] == "dead" and "4321" in dead["last_error"] and dead["failures"] == 2
        shown = cli(app, "sync", "status")
        assert shown.returncode == 1 and "dead 1" in shown.stdout and "4321" in shown.stdout, shown
        sim.control("/_sim/fault", {"mode": "ok"})
        assert "1 item(s) due again" in cli(app, "sync", "retry").stdout
        wait_for(lambda: counts(app)["delivered"] == 5, 60, "revived item delivered")
        assert sim.state()["registrations"][IDS["obama"]] == 2  # a new enrolment: a new registration

        # 6. an answer lost in transit (slow answer, client timeout): checked, not registered twice
        sim.control("/_sim/fault", {"mode": "slow", "delay": 5, "count": 1})
        train(app, "biden", [variant("biden.jpg", op, 75) for op in ("none", "mirror", "rot", "crop")])
        wait_for(lambda: counts(app)["delivered"] == 6, 90, "slow item delivered")
        assert sim.state()["registrations"][IDS["biden"]] == 2, sim.state()["registrations"]
        assert "found registered" in _last_note(app, "biden")

        # 7. the sync worker is killed while the upstream is processing its request: the restarted
        # worker finds the item marked "sending", checks, and does not register it twice
        sim.control("/_sim/fault", {"mode": "slow", "delay": 2.5, "count": 1})
        before = sim.state()["registrations"][IDS["astronaut"]]
        pid = app.worker_pid("sync")
        train(
            app, "astronaut", [variant("astronaut.jpg", op, 70) for op in ("none", "mirror", "rot", "crop")]
        )
        wait_for(lambda: sim.state()["registrations"][IDS["astronaut"]] == before + 1, 30, "request arrived")
        os.kill(pid, signal.SIGKILL)
        app.wait_healthy(60, lambda h: app.worker_pid("sync") not in (None, pid))
        wait_for(lambda: counts(app)["delivered"] == 7, 90, "item of the killed worker delivered")
        assert sim.state()["registrations"][IDS["astronaut"]] == before + 1
        assert "found registered" in _last_note(app, "astronaut")
    finally:
        app.stop()
        sim.stop()


def _template():
    import numpy as np
    from harness import MODELS

    from appliance.face.engine import FaceEngine

    analysis = FaceEngine(MODELS).analyse(variant("astronaut.jpg", "none"))
    return np.stack([analysis.embedding])


def _last_note(app, user_id: str) -> str:
    from appliance.store.models import OutboxItem

    item = OutboxItem.select().where(OutboxItem.key == user_id).order_by(OutboxItem.id.desc()).first()
    return item.last_error
