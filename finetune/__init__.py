"""Fine-tuning: transfer a MobileNetV2 from a source dataset to the target, and score the recommender by it.

The names below load on first use (PEP 562), so importing a light part of the package (the prior_score distance
reading its cached scores, the transferability formulas) does not import Keras and TensorFlow.
"""
import importlib

_EXPORTS = {"train_source": ".transfer.stages", "train_target": ".transfer.stages", "TransferResult": ".transfer.stages",
            "check_splittable": ".transfer.stages", "ranking_scores": ".evaluation"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
