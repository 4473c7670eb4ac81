"""What the committed catalog benchmark says about a ranking: the measured per-source transfer (the prior that
ships with the catalog), the validated accuracy of each distance, and the plain-words verdicts of the report.

The evidence file is written by `scripts/benchmark.py` (catalog_evidence.json in its run folder); the one that
ships is the committed run's, conf/evidence/catalog.json (package data). Sources and targets are matched to catalog
datasets by identity (real folder or TFDS split), never by display name.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recommender.common.paths import EVIDENCE_DIR
from recommender.data.datasets import DatasetError, ImageList, resolve_dataset, same_dataset
from recommender.data.subset import evidence_name, read_spec

SHIPPED = EVIDENCE_DIR / "catalog.json"
# What the pool study measured for sources built from a pool (scripts/studies/study_pool.py): merged into the shipped
# evidence as one more "source" per pool and size, so the prior and the verdict treat it like a catalog source.
SHIPPED_POOL = EVIDENCE_DIR / "pool.json"
FORMAT = 1
REQUIRED = ("gains", "summary", "distances", "default")  # what every reader below needs


def evidence_document(*, protocol: str, image_size: int, targets: list[str], gains: dict, summary: dict,
                      distances: dict, default: dict, benchmark: dict, backbone: dict, validated_distances: dict,
                      prior_score: dict | None = None, made_by: str = "scripts/benchmark.py") -> dict:
    """The evidence file's schema, written here and read by `load_evidence` (one owner for both):

    protocol            the headline protocol the gains were measured under (e.g. "top4/k20")
    image_size          the backbone's image size of those measurements
    targets             the catalog targets measured
    gains               target -> source -> mean accuracy gain over the ImageNet network (a fraction)
    summary             score -> its validated summary over targets (mean weighted tau, regret, ...)
    distances           distance name -> its options (no factory: configure finds it by name)
    default             the earned default: chosen score, its leave-one-target-out folds, the fit on all targets
    benchmark           episodes and stage-1 seed; backbone: name, alpha, weights, image_size
    validated_distances every distance validated, with its options and image size
    prior_score         the prior + network score fit (prior_score_evidence), when the benchmark measured LogME
    """
    return {**({"prior_score": prior_score} if prior_score else {}), "format": FORMAT, "protocol": protocol,
            "image_size": int(image_size), "made_by": made_by, "targets": list(targets), "gains": gains,
            "summary": summary, "distances": distances, "default": default, "benchmark": benchmark,
            "backbone": backbone, "validated_distances": validated_distances}


class EvidenceError(DatasetError):
    """The evidence file is missing or unreadable."""


def load_evidence(path: str | Path | None = None, required: bool = False) -> dict | None:
    """The evidence at `path` (None: the shipped one); None when absent and not `required`."""
    path = Path(path).expanduser() if path else SHIPPED
    if not path.is_file():
        if required:
            raise EvidenceError(f"distance.evidence: {path} does not exist; run scripts/benchmark.py (it writes "
                                "catalog_evidence.json into its run folder) or set distance.evidence to that file.")
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or not set(REQUIRED) <= set(data):
            raise ValueError("not a catalog evidence file of this version")
    except (OSError, ValueError, AttributeError) as err:
        raise EvidenceError(f"distance.evidence: {path} is unreadable ({err}); run scripts/benchmark.py again "
                            "to write a new one.") from None
    problem = evidence_problem(data)
    if problem:
        raise EvidenceError(f"distance.evidence: {path}: {problem}; fix that field or run scripts/benchmark.py "
                            "again to write a new file.")
    if path == SHIPPED and SHIPPED_POOL.is_file():
        try:
            pool = json.loads(SHIPPED_POOL.read_text())
            if not isinstance(pool, dict) or not isinstance(pool.get("gains", {}), dict):
                raise ValueError("not an object with gains")
            problem = evidence_problem({"gains": pool.get("gains") or {"-": {}}, "default": {}})
            if problem:
                raise ValueError(problem)
        except (OSError, ValueError) as err:
            raise EvidenceError(f"{SHIPPED_POOL} is unreadable ({err}); reinstall the package or restore the "
                                "file from the repository.") from None
        data = with_pool_evidence(data, pool)
    return data


NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TOP_BLOCKS = 15  # MobileNetV2 has 16 inverted-residual blocks, and one always stays frozen


def _finite(value, low: float = -math.inf, high: float = math.inf) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and low <= value <= high


def _options_problem(field: str, entry) -> str | None:
    """A distance named by its options (the evidence's `distances`): data, never code. Its name must be a
    distance of conf/distance/, and its options plain values; a `_target_` (which would choose code) is refused."""
    if not isinstance(entry, dict):
        return f"{field} is not an object"
    if "_target_" in entry:
        return f"{field} names code (_target_); evidence is data and may only name distances of conf/distance/"
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name) or not (EVIDENCE_DIR.parent / "distance" /
                                                                  f"{name}.yaml").is_file():
        return f"{field}.name={name!r} is not a distance of conf/distance/"
    for key, value in entry.items():
        if not isinstance(key, str) or not NAME.match(key) or not (value is None or isinstance(value, (str, int,
                                                                                                          float, bool))):
            return f"{field}.{key} is not a plain option value"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{field}.{key} is not finite"
    return None


def evidence_problem(data: dict) -> str | None:
    """What makes an evidence document unusable, naming the field (None: it is usable): types, finite numbers,
    distances named by conf/distance/ options only, block counts within the backbone."""
    gains = data.get("gains")
    if not isinstance(gains, dict) or not gains:
        return "gains is not a non-empty object of target -> source -> gain"
    for t, per_source in gains.items():
        if not isinstance(per_source, dict):
            return f"gains.{t} is not an object of source -> gain"
        for s, g in per_source.items():
            if not _finite(g, -1.0, 1.0):
                return f"gains.{t}.{s}={g!r} is not a finite accuracy gain between -1 and 1"
    for section in ("distances", "validated_distances"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            return f"{section} is not an object"
        for name, entry in entries.items():
            problem = _options_problem(f"{section}.{name}", {k: v for k, v in entry.items() if k != "image_size"}
                                       if isinstance(entry, dict) else entry)
            if problem:
                return problem
    default = data.get("default")
    if not isinstance(default, dict):
        return "default is not an object"
    chosen = [("default.all_targets", default.get("all_targets"))] + \
        [(f"default.folds.{t}", f) for t, f in (default.get("folds") or {}).items()]
    for field, fold in chosen:
        if isinstance(fold, dict) and fold.get("distance") is not None and fold["distance"] not in \
                (data.get("distances") or {}):
            return f"{field}.distance={fold['distance']!r} is not one of the file's distances"
    prior = data.get("prior_score")
    if prior is not None:
        if not isinstance(prior, dict) or not isinstance(prior.get("score"), str) or not NAME.match(prior["score"]):
            return "prior_score.score is missing or not a score name"
        if not isinstance(prior.get("top_blocks"), int) or not 1 <= prior["top_blocks"] <= MAX_TOP_BLOCKS:
            return f"prior_score.top_blocks={prior.get('top_blocks')!r} is not a block count from 1 to {MAX_TOP_BLOCKS}"
        if not isinstance(prior.get("folds"), dict) or not all(_finite(w, 0) for w in prior["folds"].values()):
            return "prior_score.folds is not an object of target -> weight (finite, at least 0)"
        if not _finite(prior.get("all_targets"), 0):
            return f"prior_score.all_targets={prior.get('all_targets')!r} is not a finite weight"
    gain = data.get("gain")
    if gain is not None:
        from recommender.rankers.gain import GainModel

        if not isinstance(gain, dict) or not re.match(r"^top([1-9]|1[0-5])/k[0-9]+$", str(gain.get("protocol"))):
            return "gain.protocol is not of the form top<blocks>/k<shots>"
        folds = gain.get("folds")
        if not isinstance(folds, dict):
            return "gain.folds is not an object"
        for field, fold in [("gain.all_targets", gain.get("all_targets")), *((f"gain.folds.{t}", f)
                                                                          for t, f in folds.items())]:
            if not isinstance(fold, dict) or not _finite(fold.get("threshold"), 0, 10):
                return f"{field}.threshold is missing or not a finite number from 0 to 10"
            for path in ("catalog", "user"):
                try:
                    GainModel.from_dict(fold[path])
                except (KeyError, TypeError, ValueError, AttributeError) as err:
                    return f"{field}.{path} is not a fitted gain model ({err})"
    return None


def with_pool_evidence(evidence: dict, pool: dict) -> dict:
    """The evidence with the pool study's gains of built sources added under their evidence names
    (`recommender.data.subset.evidence_name`), on the catalog targets where both were measured under one protocol.
    Catalog sources' entries are untouched, so nothing the benchmark validated changes."""
    if pool.get("protocol") != evidence.get("protocol"):
        return evidence
    gains = {t: {**g, **pool["gains"].get(t, {})} for t, g in evidence["gains"].items()}
    return {**evidence, "gains": gains, "built": pool.get("built", {})}


def measured_sources(evidence: dict) -> set[str]:
    """The catalog sources the benchmark measured transfer from (the ones the prior knows)."""
    return {s for per_source in evidence["gains"].values() for s in per_source}


def catalog_name(images: ImageList, cfg) -> str | None:
    """The catalog name of the dataset `images` is, whatever it was called on the command line."""
    # Plain values, resolved once: reading an OmegaConf node re-parses its interpolations every time, and this
    # loop runs for every dataset of every ranking (the benchmark ranks thousands of times).
    catalog = OmegaConf.to_container(cfg.catalog, resolve=True) if isinstance(cfg.catalog, DictConfig) \
        else cfg.catalog
    data_root = cfg.data_root
    if images.spec.kind == "subset":  # a built source is known by how it was built, not by a catalog entry
        return evidence_name(read_spec(images.spec.path))
    for name in catalog:
        try:
            if same_dataset(resolve_dataset(str(name), catalog, data_root), images):
                return str(name)
        except DatasetError:  # a catalog entry that is not on this machine cannot be this dataset
            continue
    return None


def backbone_mismatch(evidence: dict, backbone: dict) -> tuple[str, str] | None:
    """How the evidence fails to hold for a run with `backbone`, or None when it holds: ("weights", why) when the
    run's weights are not the ones the benchmark measured with (random weights, another file), so nothing it
    measured applies; ("alpha", why) when only the width differs, so the sources' measured transfer (a property
    of the sources under the benchmark's protocol) is shown, but no figure is validated for this backbone. An
    evidence file that names no backbone was made with the benchmark's defaults (alpha 0.5, ImageNet)."""
    measured = evidence.get("backbone") or {"alpha": 0.5, "weights": "imagenet"}
    was = f"MobileNetV2 alpha {measured.get('alpha')} with {measured.get('weights')} weights"
    now = f"alpha {backbone.get('alpha')} with {backbone.get('weights')} weights"
    if str(backbone.get("weights")) != str(measured.get("weights", "imagenet")):
        return "weights", (f"the catalog benchmark measured {was}; this run uses {now}, so none of its "
                           "measurements (the prior, the gains, the validated figures) apply here")
    if float(backbone.get("alpha", 0.5)) != float(measured.get("alpha", 0.5)):
        return "alpha", (f"the catalog benchmark measured {was}; this run uses {now}: the sources' measured "
                         "gains are shown as measured there, and no figure is validated for this backbone")
    return None

