"""Enrolment state: counting good samples, restart on a new person, the result."""

import cv2
import numpy as np

from appliance.face import quality
from appliance.face.enrolment import CONTINUE, PERSON_CHANGED, SUCCESS, EnrolmentSession, EnrolmentSettings
from appliance.face.imagedecode import decode_image


def _frames(engine, data: bytes, n: int):
    """n slightly different real frames of one photo (brightness, shift), analysed."""
    img = decode_image(data)
    out = []
    for i in range(n):
        frame = cv2.convertScaleAbs(img, alpha=0.85 + 0.1 * i, beta=3 * i)
        frame = np.roll(frame, 4 * i, axis=1)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(engine.analyse(buf.tobytes()))
    assert all(a.ok for a in out)
    return out


def test_three_good_samples_of_one_person_succeed(face_engine, face_photos):
    session = EnrolmentSession()
    frames = _frames(face_engine, face_photos["obama_2"], 3)
    steps = [session.feed(a) for a in frames]
    assert [s.message for s in steps] == [CONTINUE, CONTINUE, SUCCESS]
    assert [s.good_samples for s in steps] == [1, 2, 3]
    res = session.result
    assert res.template.shape == (3, 128) and res.embeddings.shape == (3, 128)
    assert res.consistency > 0.8
    assert len(res.best_jpeg) < 400 * 1024
    best = decode_image(res.best_jpeg)
    assert face_engine.analyse(res.best_jpeg).ok and best.shape[0] > 150
    # the registered photo identifies as the same person
    assert float(face_engine.analyse(res.best_jpeg).embedding @ frames[0].embedding) > 0.8


def test_bad_frames_do_not_count(face_engine, face_photos):
    session = EnrolmentSession(EnrolmentSettings(required=2))
    bad = face_engine.analyse(b"junk")
    step = session.feed(bad)
    assert step.message == CONTINUE and step.reason == quality.BAD_IMAGE and step.good_samples == 0


def test_person_change_restarts_the_count(face_engine, face_photos):
    session = EnrolmentSession()
    obama = _frames(face_engine, face_photos["obama_1"], 2)
    biden = _frames(face_engine, face_photos["biden"], 3)
    assert session.feed(obama[0]).good_samples == 1
    assert session.feed(obama[1]).good_samples == 2
    step = session.feed(biden[0])
    assert step.restarted and step.reason == PERSON_CHANGED and step.good_samples == 1
    assert step.similarity < 0.5 and session.restarts == 1
    assert session.feed(biden[1]).message == CONTINUE
    assert session.feed(biden[2]).message == SUCCESS
    template = session.result.template
    assert (template @ biden[0].embedding).min() > 0.8  # only Biden in the template
    assert (template @ obama[0].embedding).max() < 0.5
    assert session.feed(obama[0]).message == SUCCESS and session.result.template is template


def test_mean_template_mode(face_engine, face_photos):
    session = EnrolmentSession(EnrolmentSettings(required=2, template_mode="mean"))
    for a in _frames(face_engine, face_photos["astronaut"], 2):
        step = session.feed(a)
    assert step.message == SUCCESS
    t = session.result.template
    assert t.shape == (1, 128) and abs(np.linalg.norm(t) - 1) < 1e-5
