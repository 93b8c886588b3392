"""Model set-up: checksums pinned, idempotent, clear errors for corrupt or missing files."""

import pytest

from appliance.speech import modelfiles
from appliance.speech.modelfiles import SHA256, ModelError, ensure_models, require, sha256_of, verify_models


def test_all_models_verify(speech_models_dir):
    assert set(verify_models(speech_models_dir).values()) == {"ok"}
    assert modelfiles.model_problems(speech_models_dir) == []


def test_ensure_is_idempotent(speech_models_dir):
    before = {rel: (speech_models_dir / rel).stat().st_mtime_ns for rel in SHA256}
    ensure_models(speech_models_dir, fetch=False)  # everything present: nothing fetched or rewritten
    after = {rel: (speech_models_dir / rel).stat().st_mtime_ns for rel in SHA256}
    assert before == after


def test_join_with_wrong_checksum_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"part one")
    b.write_bytes(b"part two")
    target = tmp_path / "out" / "model.bin"
    with pytest.raises(ModelError, match="sha256 mismatch"):
        modelfiles._install(target, [a, b], "0" * 64)
    assert not target.exists() and not target.with_name("model.bin.tmp").exists()
    import hashlib

    modelfiles._install(target, [a, b], hashlib.sha256(b"part onepart two").hexdigest())
    assert target.read_bytes() == b"part onepart two"


def test_verify_reports_missing_and_corrupt(tmp_path):
    (tmp_path / "kokoro").mkdir()
    (tmp_path / "kokoro" / "vocab.json").write_text("{}")
    status = verify_models(tmp_path)
    assert status["kokoro/vocab.json"] == "corrupt"
    assert status["whisper-base/model.bin"] == "missing"
    problems = modelfiles.model_problems(tmp_path, english=False)
    assert "kokoro/vocab.json: corrupt" in problems and len(problems) == len(modelfiles.REQUIRED)


def test_engines_refuse_to_start_without_models(tmp_path):
    with pytest.raises(ModelError, match="ensure_models"):
        require(tmp_path, ["whisper-base/model.bin"])
    from appliance.speech.stt import SpeechToText

    with pytest.raises(ModelError):
        SpeechToText(tmp_path)


def test_no_fetch_mode_fails_clearly_when_packages_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfiles.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="fetching is disabled"):
        ensure_models(tmp_path, fetch=False)


def test_sha256_of_streams(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * (3 << 20))
    import hashlib

    assert sha256_of(p) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
