"""Fine-tuning: transfer a MobileNetV2 from a source dataset to the target, and score the recommender by it."""
from .transfer import TransferResult, check_splittable, train_source, train_target
from .scores import ranking_scores

__all__ = ["train_source", "train_target", "TransferResult", "check_splittable", "ranking_scores"]
