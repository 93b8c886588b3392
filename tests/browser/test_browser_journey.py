"""The whole citizen journey on the kiosk page, in real Chromium against the real appliance.

The camera shows a face made from a test photo; the microphone plays sentences spoken by the kiosk's
own TTS. Unknown face -> enrolment (sample count shown) -> recognition -> spoken request -> questions
answered by keyboard (a wrong one asked again) and by voice -> storage -> summary tables. A screenshot
of every step is written (KIOSK_SCREENSHOTS=dir keeps them)."""

import shutil
import time

import browser
import pytest
from conftest import tts
from playwright.sync_api import sync_playwright

from appliance.dialogue import qna

ID_CARD = "11010519491231002X"  # GB 11643's own example: born 1949-12-31, female
TYPED = {  # question keyword -> typed answer (checked by the server as it would check a voice answer)
    "名字": "王芳",
    "性别": "女",
    "民族": "汉族",
    "身份证": ID_CARD,
    "出生": "1949年12月31日",
    "手机": "13800138000",
    "住在": "北京市朝阳区建国路88号",
    "户口": "北京市朝阳区",
    "对吗": "对",
}
VOICE_QUESTION, VOICE_ANSWER = "民族", "我的民族是汉族。"  # a sentence Whisper base hears right from Kokoro


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def wait_until(page, predicate, timeout: float, what: str):
    """Poll from Python: the page's CSP rightly forbids the eval that wait_for_function needs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(
        f"{what} within {timeout}s; the page says: {text_of(page, '#notice')!r} / "
        f"{text_of(page, 'main')[:600]!r}"
    )


def landscape(page, path) -> None:
    """The same screen on a 1920x1080 landscape display, then back to portrait."""
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1080, "height": 1920})


def visible(page, selector: str) -> bool:
    return page.locator(selector).is_visible()


@pytest.fixture
def media(kiosk, tmp_path):
    """The camera (a Y4M of one face moving a little) and the microphone file (rewritten per utterance)."""
    frames = [browser.face_frame("obama_1.jpg", shift) for shift in (0, 3, 6, 3, 0, -3, -6, -3)]
    video = browser.write_y4m(tmp_path / "camera.y4m", frames)
    spoken = {
        name: tts(kiosk, text) for name, text in (("request", "我要办身份证。"), ("answer", VOICE_ANSWER))
    }
    mic = browser.write_wav(tmp_path / "mic.wav", spoken["request"])
    return video, mic, spoken


def test_whole_journey_in_chromium(kiosk, media, shots):
    video, mic, spoken = media
    problems = []
    with sync_playwright() as playwright:
        context = browser.launch(playwright, video, mic)
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(kiosk.url("/kiosk/"))
            wait_until(page, lambda: visible(page, "#btn-start"), 15, "the start button")
            page.screenshot(path=str(shots / "01-start.png"))

            # 1. an unknown face: fail after predict_max_frames, the page offers enrolment or a guest visit
            page.click("#btn-start")
            wait_until(page, lambda: visible(page, "#face-choices"), 60, "the choices after an unknown face")
            assert "没有认出您" in text_of(page, "#notice")
            assert visible(page, "#btn-guest") and visible(page, "#btn-enrol")
            page.screenshot(path=str(shots / "02-face-unknown.png"))
            landscape(page, shots / "02-face-unknown-landscape.png")

            # 2. enrolment on port 444 with the sample count shown, then 3. recognition greets the person
            page.click("#btn-enrol")
            wait_until(page, lambda: "已采集 3 / 3" in text_of(page, "#train-count"), 60, "3 of 3 samples")
            wait_until(page, lambda: visible(page, "#screen-request"), 60, "recognition after enrolment")
            notice = text_of(page, "#notice")
            assert "欢迎回来" in notice and "kiosk-" in notice
            user_id = notice.split("（")[1].rstrip("）")
            page.screenshot(path=str(shots / "03-recognised.png"))

            # 4. the request, spoken: WAV in the browser -> data: URI -> audio handshake, processing retried
            page.click("#btn-speak")
            wait_until(page, lambda: visible(page, "#service"), 90, "the recognised service")
            assert text_of(page, "#classify") == "身份证"
            assert "户口本" in text_of(page, "#flow")
            page.screenshot(path=str(shots / "04-service.png"))

            # 5. questions: typed answers, one wrong (asked again), one spoken
            page.click("#btn-to-qna")
            asked = answer_questions(page, mic, spoken["answer"], shots)
            assert sum("手机" in q for q in asked) >= 2, f"a wrong phone number must be asked again: {asked}"

            # 6. storage and summary
            wait_until(page, lambda: visible(page, "#record-table"), 60, "the summary tables")
            record = text_of(page, "#record-table")
            for expected in ("王芳", "女", "汉族", ID_CARD, "13800138000", "1949年12月31日", "建国路88号"):
                assert expected in record, (expected, record)
            nationality = page.locator("#record-table tr", has_text="民族").locator("td").inner_text()
            assert nationality == "汉族", nationality  # the spoken answer
            assert (
                "朝阳区" in page.locator("#record-table tr", has_text="户口所在地").locator("td").inner_text()
            )
            assert "居民户口簿" in text_of(page, "#documents-table")
            assert text_of(page, "#summary-classify") == "身份证"
            page.screenshot(path=str(shots / "06-summary.png"), full_page=True)
            page.emulate_media(media="print")
            assert not visible(page, "#btn-print")  # the print view is the tables alone
            page.screenshot(path=str(shots / "07-print.png"), full_page=True)
            page.emulate_media(media="screen")
            page.set_viewport_size({"width": 1920, "height": 1080})
            page.screenshot(path=str(shots / "08-summary-landscape.png"))
        finally:
            context.close()
    assert user_id
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


def answer_questions(page, mic, spoken_answer: bytes, shots) -> list[str]:
    """Answer every question the server asks until the page leaves the questions; returns them in order."""
    asked: list[str] = []
    wrong_phone_given = voice_given = False
    questions = page.locator("#qna-log li.log-q")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if visible(page, "#screen-summary"):
            return asked
        if questions.count() == len(asked):  # the next question has not arrived yet
            page.wait_for_timeout(150)
            continue
        question = questions.nth(len(asked)).inner_text()
        if voice_given and VOICE_QUESTION in asked[-1]:  # the spoken answer was taken, not asked again
            assert VOICE_QUESTION not in question, f"the spoken answer was not understood: {question!r}"
        asked.append(question)
        assert text_of(page, "#question") == question
        if question == qna.CLOSING:  # the closing words: a text frame like any question, then the end
            continue
        if VOICE_QUESTION in question and not voice_given:
            browser.write_wav(mic, spoken_answer)  # the microphone now says the answer
            page.screenshot(path=str(shots / "05-question.png"))
            landscape(page, shots / "05-question-landscape.png")
            page.click("#btn-answer-voice")
            voice_given = True
        elif "手机" in question and not wrong_phone_given:
            page.fill("#input-answer", "12345")
            page.click("#form-answer button")
            wrong_phone_given = True
        else:
            key = next((k for k in TYPED if k in question), None)
            assert key is not None, f"an unexpected question: {question!r}"
            page.fill("#input-answer", TYPED[key])
            page.click("#form-answer button")
    raise AssertionError(f"questions did not end; asked: {asked}")


def test_chromium_is_there():
    """The system Chromium is the one the tests drive; without it the suite fails with how to install it."""
    path = browser.chromium_path()
    assert shutil.which(path) or path
