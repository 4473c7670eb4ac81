"""Pretraining-source recommender: which source dataset to pretrain on for a target image dataset, or ImageNet.

The default ranking predicts each candidate source's few-shot accuracy gain over ImageNet weights on the target,
with a 90% interval (a small model of the source network's scores on the target relative to the ImageNet
network's, plus what the committed benchmark measured about the source), and the verdict comes from it. Other
rankings: the measured prior alone, optimal-transport distances (EMD, Cui et al., CVPR 2018), a network score.

>>> from recommender import recommend
>>> ranking = recommend("plants")          # doctest: +SKIP
>>> ranking.headline                        # doctest: +SKIP
'Start from trash: predicted +0.1 points [-2.1, +2.2] (90% interval) over ImageNet weights alone on plants; ...'
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of the report
# POT imports every array backend it finds (TensorFlow takes seconds); the EMD here only sees NumPy arrays.
for _backend in ("TENSORFLOW", "PYTORCH", "JAX", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_backend}", "1")

from omegaconf import OmegaConf  # noqa: E402

from recommender.common.logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

# Run folders end in the process id (outputs/<job>/<date-time>-<pid>): two runs started in the same second
# get separate folders, so neither report overwrites the other.
OmegaConf.register_new_resolver("pid", os.getpid, replace=True)
# Cache folders: ./.cache when the working folder has one, else the user's cache folder (common/paths.py).
from recommender.common.paths import cache_dir as _cache_dir  # noqa: E402

OmegaConf.register_new_resolver("recommender_cache", _cache_dir, replace=True)

from recommender.api import (backbone_spec, dataset_domain, dataset_features, dataset_features_together,  # noqa: E402
                  descriptor_quality_of, load_images, make_extractor, open_dataset, recommend, candidate_datasets, split_indices_of)
from recommender.features.backbone import build_backbone, identity as backbone_identity, resolve_weights  # noqa: E402
from recommender.config import load_config  # noqa: E402
from recommender.data.datasets import DatasetError, ImageList, same_dataset  # noqa: E402
from recommender.features.extractor import Extractor, FeatureSet  # noqa: E402
from recommender.common.files import atomic_output  # noqa: E402
from recommender.ranking import Ranking, SourceResult  # noqa: E402

__all__ = ["recommend", "load_config", "Ranking", "SourceResult", "dataset_features", "dataset_features_together", "dataset_domain",
           "open_dataset", "split_indices_of", "backbone_spec", "candidate_datasets", "same_dataset", "make_extractor", "load_images",
           "descriptor_quality_of", "Extractor", "FeatureSet", "atomic_output", "build_backbone", "backbone_identity",
           "resolve_weights", "DatasetError", "ImageList"]
