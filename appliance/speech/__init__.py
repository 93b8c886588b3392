"""Speech engine: audio decoding, Whisper STT, Kokoro/piper/espeak TTS, model set-up.

Pure library (no bus, no network at run time). The speech worker wraps it:

    from appliance.speech import SpeechToText, TextToSpeech, decode_audio, encode_wav
    stt = SpeechToText(models_dir, prompt_terms=catalogue_names)
    text = stt.transcribe(decode_audio(wav_bytes)).text
    tts = TextToSpeech(models_dir)
    wav = encode_wav(*tts.synthesize("您好，请问办理什么业务？"))

Heavy imports (faster-whisper, onnxruntime, misaki) happen inside the engine constructors.
"""

from .audio import AudioError, decode_audio, encode_wav, read_wav, resample
from .modelfiles import ModelError, ensure_models, model_paths, model_problems, verify_models
from .stt import SpeechToText, STTError, Transcript, build_prompt
from .tts import TextToSpeech, TTSError

__all__ = [
    "AudioError",
    "decode_audio",
    "encode_wav",
    "read_wav",
    "resample",
    "ModelError",
    "ensure_models",
    "model_paths",
    "model_problems",
    "verify_models",
    "SpeechToText",
    "STTError",
    "Transcript",
    "build_prompt",
    "TextToSpeech",
    "TTSError",
]
