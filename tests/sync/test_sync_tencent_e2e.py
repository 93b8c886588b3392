"""The Tencent-style simulator validates as the seeds say, and the sync
worker's remote ops (recong, verify) work against it; real processes."""

import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT, Appliance  # noqa: E402
from sync_helpers import FACES, TOKEN, sync_env, tencent_sim  # noqa: E402

from appliance.runtime import bus, endpoints  # noqa: E402

OBAMA_ID = "11010119610804001X"


def raw(sim, path: str, body, token: str | None = TOKEN) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
    request = urllib.request.Request(
        f"http://127.0.0.1:{sim.port}/tech/ai/face/{path}", data=data, headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def b64(name: str) -> str:
    return base64.b64encode((FACES / name).read_bytes()).decode()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tencent")
    sim = tencent_sim(tmp, tmp / "reg.jsonl").start()
    app = Appliance(workers="sync", env=sync_env(f"http://127.0.0.1:{sim.port}/tech/ai/face/")).wait_ready()
    yield sim, app
    app.stop()
    sim.stop()


def ask(app, op: str, fields: dict, payloads=()) -> dict:
    client = bus.BusClient(endpoints.worker_requests(app.dir / "run", "sync"), timeout=30)
    try:
        return client.request(op, fields, list(payloads))[0]
    except bus.RemoteError as exc:
        return {"ok": False, "error": exc.code, "reason": exc.reason}
    finally:
        client.close()


def test_simulator_checks_requests_as_documented(setup):
    sim, _ = setup
    good = {
        "personType": "vip",
        "idNum": OBAMA_ID,
        "name": "奥巴马",
        "customerID": "",
        "faceImage": {"type": "image", "origin": "self", "data": b64("obama_1.jpg")},
        "async": False,
    }
    assert raw(sim, "faceLib/person/reg", good) == {"errcode": 0, "data": {"ok": "true"}, "errmsg": "SUCCESS"}
    cases = [
        ("faceLib/person/reg", good, None, 1001),  # no Authorization
        ("faceLib/person/reg", b"[1, 2]", TOKEN, 1002),  # not an object
        ("faceLib/person/reg", {**good, "name": ""}, TOKEN, 1003),  # missing field
        ("faceLib/person/reg", {**good, "personType": "boss"}, TOKEN, 1004),  # wrong value
        ("faceLib/person/reg", {**good, "async": "no"}, TOKEN, 1004),  # wrong type
        ("faceLib/person/reg", {**good, "faceImage": {"data": "A" * (400 * 1024 + 4)}}, TOKEN, 1005),
        (
            "faceLib/person/reg",
            {**good, "faceImage": {"data": base64.b64encode(b"x" * 99).decode()}},
            TOKEN,
            1006,
        ),
        ("faceLib/person/recong", {"faceImage": {"origin": "fds", "data": "x.jpg"}}, TOKEN, 1008),
        ("faceAdv", {"userId": "u1", "type": "selfie"}, TOKEN, 1004),  # wrong type
        ("faceAdv", {"userId": "u 1!", "type": "match"}, TOKEN, 1004),  # special characters
        ("faceAdv", {"userId": "u1", "type": "authmatch", "name": "x"}, TOKEN, 1003),  # idNo missing
        ("faceAdv", {"userId": "u1", "type": "match"}, TOKEN, 1003),  # sourcePhotoStr missing
        ("faceAdvResult", {"orderNo": "nope"}, TOKEN, 1009),
    ]
    for path, body, token, errcode in cases:
        answer = raw(sim, path, body, token)
        assert answer["errcode"] == errcode and answer["errmsg"], (path, answer)
    match = raw(sim, "faceLib/person/recong", {"faceImage": {"data": b64("obama_2.jpg")}})["data"]
    assert match["isMatch"] == "true" and match["idNum"] == OBAMA_ID and float(match["score"]) >= 70
    assert (
        raw(sim, "faceLib/person/recong", {"faceImage": {"data": b64("biden.jpg")}})["data"]["isMatch"]
        == "false"
    )


def test_worker_recong_and_verify(setup):
    sim, app = setup
    raw(
        sim,
        "faceLib/person/reg",
        {
            "personType": "normal",
            "idNum": OBAMA_ID,
            "name": "奥巴马",
            "faceImage": {"data": b64("obama_1.jpg")},
        },
    )
    obama2, biden = (FACES / "obama_2.jpg").read_bytes(), (FACES / "biden.jpg").read_bytes()
    found = ask(app, "recong", {}, [obama2])
    assert found["ok"] and found["isMatch"] and found["idNum"] == OBAMA_ID and found["score"] >= 70
    assert found["accepted"] == (found["score"] >= 85.0)  # the 1:N threshold, higher than 1:1
    assert ask(app, "recong", {}, [biden])["isMatch"] is False

    verdict = ask(app, "verify", {"name": "奥巴马", "id_no": OBAMA_ID, "user_id": "obama"}, [obama2])
    assert verdict["ok"] and verdict["passed"] and verdict["similarity"] >= 70 and verdict["orderNo"]
    impostor = ask(app, "verify", {"name": "奥巴马", "id_no": OBAMA_ID}, [biden])
    assert impostor["ok"] and not impostor["passed"] and impostor["similarity"] < 70
    wrong_name = ask(app, "verify", {"name": "别人", "id_no": OBAMA_ID}, [obama2])
    assert not wrong_name["passed"] and wrong_name["tencentCode"] == "66660015"
    one_to_one = ask(
        app, "verify", {"type": "match", "user_id": "kiosk1"}, [obama2, (FACES / "obama_3.jpg").read_bytes()]
    )
    assert one_to_one["passed"]
    assert ask(app, "verify", {"name": "x"}, [obama2])["error"] == "bad_request"

    sim.control("/_sim/fault", {"mode": "refuse"})
    try:
        assert ask(app, "recong", {}, [obama2])["error"] == "unreachable"
    finally:
        sim.control("/_sim/fault", {"mode": "ok"})
    sim.control("/_sim/fault", {"mode": "errcode", "errcode": 77, "count": 1})
    refused = ask(app, "recong", {}, [obama2])
    assert refused["error"] == "refused" and "errcode 77" in refused["reason"]


def test_policy_helpers_for_the_face_and_dialogue_workers(setup):
    sim, app = setup
    from appliance import config, store
    from appliance.runtime.peers import Peers
    from appliance.store import citizens
    from appliance.sync.remote import remote_identify, verify_citizen

    raw(
        sim,
        "faceLib/person/reg",
        {
            "personType": "normal",
            "idNum": OBAMA_ID,
            "name": "奥巴马",
            "faceImage": {"data": b64("obama_1.jpg")},
        },
    )
    off = Peers(config.load(environ=app.env))
    assert (
        remote_identify(off, b"x") is None and verify_citizen(off, "u", "n", "i", b"x") is None
    )  # policies off
    on = Peers(
        config.load(
            environ={
                **app.env,
                "APPLIANCE_TENCENT_RECONG_FALLBACK": "true",
                "APPLIANCE_TENCENT_VERIFY_BEFORE_STORAGE": "true",
                "APPLIANCE_TENCENT_RECONG_THRESHOLD": "70",
            }
        )
    )
    store.open_database(endpoints.database_path(app.data_dir))
    citizens.upsert("obama@kiosk", {"name": "奥巴马", "id_card": OBAMA_ID})
    obama2 = (FACES / "obama_2.jpg").read_bytes()
    assert remote_identify(on, obama2)["user_id"] == "obama@kiosk"
    assert remote_identify(on, (FACES / "biden.jpg").read_bytes()) is None
    verdict = verify_citizen(
        on, "obama@kiosk", "奥巴马", OBAMA_ID, obama2
    )  # a user_id with special characters
    assert verdict["passed"] and verdict["similarity"] >= 70
    assert verify_citizen(on, "nobody", "x", "y")["error"] == "no_photo"


def test_cli_commands_exist_and_work_offline(tmp_path):
    env = {
        "APPLIANCE_PATHS_DATA_DIR": str(tmp_path / "data"),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "r"),
        "PATH": "/usr/bin:/bin",
    }
    code = "import sys; from appliance import cli; sys.exit(cli.main())"

    def run(*args):
        return subprocess.run(
            [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    shown = run("sync", "status")
    assert shown.returncode == 0 and "pending 0" in shown.stdout and "database only" in shown.stdout, shown
    assert "0 item(s) due again" in run("sync", "retry").stdout
    assert "0 item(s) purged" in run("sync", "purge", "--older-than", "0").stdout
    for kind in ("sebox", "tencent"):
        helped = run("simulate", kind, "--help")
        assert helped.returncode == 0 and "--port" in helped.stdout


def test_faceadv_result_as_a_json_string_is_read(setup):
    sim, app = setup
    raw(
        sim,
        "faceLib/person/reg",
        {
            "personType": "normal",
            "idNum": OBAMA_ID,
            "name": "奥巴马",
            "faceImage": {"data": b64("obama_1.jpg")},
        },
    )
    sim.control("/_sim/fault", {"mode": "string_result", "count": 2})  # faceAdv and faceAdvResult
    verdict = ask(
        app,
        "verify",
        {"name": "奥巴马", "id_no": OBAMA_ID, "user_id": "obama"},
        [(FACES / "obama_2.jpg").read_bytes()],
    )
    assert sim.state()["fault"]["mode"] == "ok"  # both answers were sent with `result` as a string
    assert verdict["passed"] is True and verdict["similarity"] >= 70 and verdict["liveRate"] == 99.0


def test_a_registration_answer_without_data_ok_is_uncertain_not_delivered(setup):
    """Seed 003: data.ok is always returned. Without it the outcome is unknown: the outbox checks
    with recong before sending again, and never counts the bare answer as delivered."""
    sim, app = setup
    import numpy as np
    from harness import MODELS

    from appliance import store
    from appliance.face.engine import FaceEngine
    from appliance.store import citizens
    from appliance.store import faces as face_store
    from appliance.store.models import OutboxItem

    biden_id = "110101194211200011"
    store.open_database(endpoints.database_path(app.data_dir))
    citizens.upsert("noack", {"name": "拜登", "id_card": biden_id})
    sim.control("/_sim/fault", {"mode": "no_ok", "count": 1})
    photo = (FACES / "biden.jpg").read_bytes()
    face_store.save_template(
        "noack", "sface-2021dec", np.stack([FaceEngine(MODELS).analyse(photo).embedding]), photo
    )
    ask(app, "reconcile", {})

    def delivered():
        item = OutboxItem.select().where(OutboxItem.key == "noack").first()
        return item if item is not None and item.state == "delivered" else None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not delivered():
        time.sleep(0.2)
    item = delivered()
    assert item is not None, OutboxItem.select().where(OutboxItem.key == "noack").dicts()[:]
    assert item.attempts == 2 and "found registered" in item.last_error, (item.attempts, item.last_error)
    assert sim.state()["registrations"][biden_id] == 1  # checked, not registered twice
