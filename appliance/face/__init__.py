"""Face engine: YuNet detection, SFace embedding, quality gates, gallery, enrolment."""
