"""Transfer a MobileNetV2 from a source to the target (stage 1 on the source, stage 2 on the target), the
adapted features, choosing the source to train from (train.py), validating a ranking, the model-based distances."""
