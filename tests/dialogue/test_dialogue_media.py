"""input.media of an audio handshake: plain base64 (the seed) or a data: URI (a browser's readAsDataURL)."""

import base64

import pytest

from appliance.dialogue.media import MediaError, decode_media

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


@pytest.mark.parametrize(
    "media",
    [
        base64.b64encode(WAV).decode(),
        "data:audio/wav;base64," + base64.b64encode(WAV).decode(),
        "data:audio/webm;codecs=opus;base64," + base64.b64encode(WAV).decode(),
        "DATA:audio/x-wav;base64," + base64.b64encode(WAV).decode(),
    ],
)
def test_plain_base64_and_data_uris_give_the_same_bytes(media):
    assert decode_media(media) == WAV


@pytest.mark.parametrize(
    "media, why",
    [
        ("", "base64 string or a data:audio"),
        (None, "base64 string"),
        (123, "base64 string"),
        ("data:image/png;base64,AAAA", "data:audio"),
        ("data:audio/wav,plain-text", "data:audio"),
        ("data:audio/wav;base64,@@@", "not valid base64"),
        ("not base64!", "not valid base64"),
    ],
)
def test_bad_media_is_refused_with_a_reason(media, why):
    with pytest.raises(MediaError, match=why):
        decode_media(media)
