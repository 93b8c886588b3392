"""The audio of an audio handshake (`input.media`), as the clients send it.

Back ends send plain base64, as the seed says; a browser's
`FileReader.readAsDataURL` gives a data URI (`data:audio/wav;base64,...`).
Both are accepted; anything else is refused with a reason the developer can act on.
"""

from __future__ import annotations

import base64
import binascii
import re

DATA_URI = re.compile(r"^data:(audio/[A-Za-z0-9.+-]+|application/octet-stream)?((?:;[^;,]+)*);base64,", re.I)


class MediaError(ValueError):
    """input.media cannot be read as audio bytes."""


def decode_media(media: object) -> bytes:
    """The audio bytes of `media`: plain base64, or a base64 data URI of an audio type."""
    if not isinstance(media, str) or not media:
        raise MediaError("input.media must be the audio as a base64 string or a data:audio/...;base64, URI")
    text = media.strip()
    if text[:5].lower() == "data:":
        match = DATA_URI.match(text)
        if match is None:
            raise MediaError("input.media is a data URI but not data:audio/<type>;base64,<data>")
        text = text[match.end() :]
    try:
        audio = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("input.media is not valid base64") from None
    if not audio:
        raise MediaError("input.media holds no audio")
    return audio
