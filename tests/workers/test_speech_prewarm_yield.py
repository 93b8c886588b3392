"""The TTS prewarm steps aside for a citizen: it takes the engine only when no live request is in
the speech worker nor was within PREWARM_QUIET_S, and a stop ends its wait (no models needed)."""

import contextlib
import threading
import types

from appliance.workers import speech


class Worker:
    """What _Yielding reads of the speech worker."""

    def __init__(self):
        self._live = speech._Counter()
        self._tts_lock = threading.Lock()
        self._stop = threading.Event()

    def _resume_prewarm(self):
        pass


class Kokoro:
    """The engine's preemption interface (engines.KokoroEngine.background/preempt/resume)."""

    def __init__(self):
        self.options = None

    @contextlib.contextmanager
    def background(self):
        self.options = types.SimpleNamespace(terminate=False)
        try:
            yield self.options
        finally:
            self.options = None

    def preempt(self):
        if self.options is not None:
            self.options.terminate = True

    def resume(self):
        if self.options is not None:
            self.options.terminate = False


class PreemptedOnce:
    """A TTS whose citizens' requests come while every prompt is being made."""

    def __init__(self):
        self.kokoro, self.calls = Kokoro(), []

    def prewarm(self, text, lock):
        self.calls.append((text, self.kokoro.options is not None))
        if self.kokoro.options is not None:  # preemptible: a live request arrives and preempts it
            self.kokoro.preempt()
            raise RuntimeError("Exiting due to terminate flag being set to true")
        return 1


def test_no_quiet_while_a_request_is_in_or_just_left(monkeypatch):
    live = speech._Counter()
    assert live.quiet()  # nothing has happened yet
    with live:
        assert not live.quiet()
    assert not live.quiet()  # just left: a citizen's next request is seconds away
    monkeypatch.setattr(speech, "PREWARM_QUIET_S", 0.0)
    assert live.quiet()


def test_the_prewarm_waits_for_quiet_then_takes_the_engine(monkeypatch):
    worker = Worker()
    with worker._live:
        pass  # a live request just finished
    took = threading.Event()

    def prewarm():
        with speech._Yielding(worker):
            took.set()

    thread = threading.Thread(target=prewarm, daemon=True)
    thread.start()
    assert not took.wait(0.3)  # within the quiet period: it waits
    monkeypatch.setattr(speech, "PREWARM_QUIET_S", 0.0)  # the period is over
    assert took.wait(5)
    thread.join(5)
    assert not worker._tts_lock.locked()  # and gives the engine back


def test_a_stop_ends_the_wait_for_quiet():
    worker = Worker()
    with worker._live:
        pass
    outcome = []

    def prewarm():
        try:
            with speech._Yielding(worker):
                outcome.append("took the engine")
        except speech._Stopping:
            outcome.append("stopped")

    thread = threading.Thread(target=prewarm, daemon=True)
    thread.start()
    worker._stop.set()
    thread.join(5)
    assert outcome == ["stopped"] and not worker._tts_lock.locked()


def test_a_transcription_counts_as_live():
    """The STT shares the two cores with Kokoro: a prewarm sentence during a transcription slows it."""
    from appliance.config import Settings
    from appliance.speech.stt import Transcript

    worker = speech.SpeechWorker(Settings())
    seen = []

    class STT:
        def transcribe_bytes(self, data, max_seconds, language=None):
            seen.append((worker._live.n, worker._live.quiet()))
            return Transcript(text="", language="zh", duration=1.0)

    worker.stt = STT()
    try:
        worker.transcribe({"op": "transcribe"}, [b"RIFF"])
    finally:
        worker.peers.close()
    assert seen == [(1, False)] and not worker._live.quiet()  # and the quiet period starts after


def test_a_preempted_prompt_is_made_again_whole_and_the_rest_follow(monkeypatch):
    from appliance.config import Settings

    monkeypatch.setattr(speech, "fixed_prompts", lambda _catalogue: ["请问您叫什么名字？", "好的。"])
    worker = speech.SpeechWorker(Settings())
    worker.tts = PreemptedOnce()
    try:
        worker._prewarm_prompts()
    finally:
        worker.peers.close()
    # each prompt is preempted once, then made whole: the prewarm ends however busy the kiosk is
    assert worker.tts.calls == [
        ("请问您叫什么名字？", True),
        ("请问您叫什么名字？", False),
        ("好的。", True),
        ("好的。", False),
    ]
    assert worker._prewarm == {"prompts": 2, "synthesised": 2, "preempted": 2, "done": True}


def test_a_live_request_preempts_the_prewarm_sentence_in_progress():
    from appliance.config import Settings

    worker = speech.SpeechWorker(Settings())
    worker.tts = PreemptedOnce()
    try:
        with worker.tts.kokoro.background() as options:
            with worker._live:  # a citizen's request arrives
                pass
            assert options.terminate
    finally:
        worker.peers.close()
