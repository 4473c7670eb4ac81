"""Without the optional Beam extra, features.runner=beam says which command installs it."""
import sys

import numpy as np
import pytest

import recommender.features
from recommender.features.backbone import BackboneSpec
from recommender.data.datasets import DatasetSpec, ImageList
from recommender.features.extract import extract_features
from recommender.features.extractor import Extractor, FeatureError


def test_a_missing_beam_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam now raises ImportError
    monkeypatch.delitem(sys.modules, "recommender.features.beam", raising=False)
    monkeypatch.delattr(recommender.features, "beam", raising=False)
    images = ImageList(DatasetSpec("d", path=tmp_path), ["a", "b"], ["x.png", "y.png"], np.array([0, 1]), "fp")
    extractor = Extractor(BackboneSpec("mobilenet_v2", 0.35, 64, None))  # random init: no weights file needed
    with pytest.raises(FeatureError, match=r'pip install -e "\.\[beam\]"'):
        extract_features(images, np.array([0, 1]), extractor, tmp_path, runner="beam")


def test_an_unknown_runner_is_refused(tmp_path):
    images = ImageList(DatasetSpec("d", path=tmp_path), ["a", "b"], ["x.png", "y.png"], np.array([0, 1]), "fp")
    with pytest.raises(FeatureError, match="features.runner='spark'"):
        extract_features(images, np.array([0, 1]), Extractor(BackboneSpec("mobilenet_v2", 0.35, 64, None)),
                         tmp_path, runner="spark")
