"""The TTS prewarm steps aside for a citizen: it takes the engine only when no live request is in
the speech worker nor was within PREWARM_QUIET_S, and a stop ends its wait (no models needed)."""

import threading

from appliance.workers import speech


class Worker:
    """What _Yielding reads of the speech worker."""

    def __init__(self):
        self._live = speech._Counter()
        self._tts_lock = threading.Lock()
        self._stop = threading.Event()


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
