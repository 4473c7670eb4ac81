"""Check that the extractor gives the same features on another Keras backend (JAX or PyTorch) as on TensorFlow.

    python scripts/perf/check_backends.py tensorflow /tmp/tf.npy            # in this environment
    KERAS_BACKEND=jax python scripts/perf/check_backends.py jax /tmp/jax.npy  # in one with JAX installed
    python scripts/perf/check_backends.py compare /tmp/tf.npy /tmp/jax.npy

Features of the first 128 train images of flowers (real JPEGs, the decode path every runner uses), batch 64.
"""
import os
import sys
import time

import numpy as np


def features(out: str) -> None:
    from recommender import load_config, open_dataset
    from recommender.api import backbone_spec, split_indices_of
    from recommender.features.extractor import Extractor, decode_files

    cfg = load_config(["features.progress=false"])
    images = open_dataset("flowers", cfg)
    paths = [images.refs[i] for i in split_indices_of(images, cfg)[:128]]
    decoded, ok = decode_files(paths, int(cfg.backbone.image_size))
    extractor = Extractor(backbone_spec(cfg))
    extractor(decoded[:64])
    start = time.perf_counter()
    feats = np.concatenate([extractor(decoded[lo:lo + 64]) for lo in range(0, len(decoded), 64)])
    import keras

    print(f"backend {keras.backend.backend()}: {len(decoded) / (time.perf_counter() - start):.0f} images/s "
          f"(forward only, after one warm-up batch)")
    np.save(out, feats)


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
        print(f"max |difference| {np.abs(a - b).max():.2e}, largest feature {np.abs(a).max():.2f}, "
              f"relative {np.abs(a - b).max() / np.abs(a).max():.2e}")
    else:
        assert os.environ.get("KERAS_BACKEND", "tensorflow") == sys.argv[1], "set KERAS_BACKEND to match"
        features(sys.argv[2])
