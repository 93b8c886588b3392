"""Face templates: float32 embeddings (count × dims) and the best sample JPEG."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .db import database
from .models import FaceTemplate, now


def save_template(user_id: str, model: str, template: np.ndarray, sample_jpeg: bytes | None) -> None:
    """Store (replacing any earlier one) the user's template."""
    template = np.ascontiguousarray(template, dtype=np.float32)
    with database.atomic("IMMEDIATE"):
        FaceTemplate.delete().where(FaceTemplate.user_id == user_id).execute()
        FaceTemplate.create(
            user_id=user_id,
            model=model,
            dims=int(template.shape[1]),
            count=int(template.shape[0]),
            embeddings=template.tobytes(),
            sample_jpeg=sample_jpeg,
            created_at=now(),
        )


def load_templates(model: str) -> Iterator[tuple[str, np.ndarray]]:
    """Every stored template of this model, as (user_id, count × dims array)."""
    query = FaceTemplate.select().where(FaceTemplate.model == model)
    for row in query.iterator():
        yield row.user_id, np.frombuffer(row.embeddings, dtype=np.float32).reshape(row.count, row.dims)


def delete_template(user_id: str) -> int:
    with database.atomic("IMMEDIATE"):
        return FaceTemplate.delete().where(FaceTemplate.user_id == user_id).execute()


def sample_of(user_id: str) -> bytes | None:
    row = FaceTemplate.get_or_none(FaceTemplate.user_id == user_id)
    return None if row is None else row.sample_jpeg
