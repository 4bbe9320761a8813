"""Judging generated images: classifiers trained on rendered data ("judges") and KID on their features."""

from ganlab.eval.judges import (
    FaceJudge,
    Judge,
    JudgeConfig,
    ObjectJudge,
    cached_judge,
    evaluate,
    judge_path,
    load_judge,
    save_judge,
    train_face_judge,
    train_judge,
    train_object_judge,
)
from ganlab.eval.kid import kid

__all__ = [
    "FaceJudge", "Judge", "JudgeConfig", "ObjectJudge",
    "cached_judge", "evaluate", "judge_path", "kid", "load_judge", "save_judge",
    "train_face_judge", "train_judge", "train_object_judge",
]
