"""Round trip TTS -> WAV bytes -> STT on real models: the service names must come back."""

from appliance.speech.roundtrip import (
    REQUESTS,
    cer,
    edit_distance,
    evaluate,
    normalize_for_cer,
    round_trip,
    service_hits,
)


def test_edit_distance_and_cer_normalisation():
    assert edit_distance("身份证", "身分证") == 1
    assert edit_distance("", "abc") == 3
    # Whisper writes digits, the TTS read them one by one: that is not an error
    assert cer("电话13912345678。", "电话一三九一二三四五六七八") == 0.0
    assert normalize_for_cer("我要辦身份證！") == "我要办身份证"


def test_round_trip_keeps_the_intent(speech_stt, speech_tts):
    """What matters is the service the kiosk understands: homophones such as 户照 for 护照
    are the classifier's job (pinyin matching); the exact characters are reported as CER."""
    from appliance.dialogue import Classifier, load_catalogue

    classifier = Classifier(load_catalogue())
    texts = REQUESTS[:6]
    rows = round_trip(speech_stt, speech_tts, texts)
    heard, said = service_hits(rows)
    print(f"service names heard verbatim {heard}/{said}; rows {rows}")
    intents = [
        classifier.classify(r["heard"]).classify == classifier.classify(r["text"]).classify for r in rows
    ]
    assert sum(intents) / len(intents) >= 0.9, rows
    assert sum(r["cer"] for r in rows) / len(rows) < 0.35, rows


def test_bench_reports_every_metric(speech_models_dir, speech_stt, speech_tts):
    result = evaluate(speech_models_dir, n=2, stt=speech_stt, tts=speech_tts)
    for key in ("cer", "tts_rtf_mean", "stt_rtf_mean", "rss_mb_peak", "stt_load_s", "tts_load_s"):
        assert key in result and result[key] >= 0
    assert result["n"] == 2 and len(result["rows"]) == 2
