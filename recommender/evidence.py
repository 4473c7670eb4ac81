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

import numpy as np
from omegaconf import DictConfig, OmegaConf
from scipy import stats

from recommender.common.paths import EVIDENCE_DIR
from recommender.data.datasets import DatasetError, ImageList, resolve_dataset, same_dataset
from recommender.data.subset import evidence_name, read_spec
from recommender.distances import DistanceResult, DistanceSpec, configure
from recommender.rankers.statistics import standardise, weighted_tau

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


def loto_prior(gains: dict[str, dict[str, float]], exclude=()) -> dict[str, float]:
    """The catalog prior: each source's mean measured gain over the ImageNet network on the targets not in
    `exclude` (target -> source -> gain). Leaving out the target being scored makes it leave-one-target-out."""
    collected: dict[str, list[float]] = {}
    for target, per_source in gains.items():
        if target in exclude:
            continue
        for source, g in per_source.items():
            collected.setdefault(source, []).append(float(g))
    return {s: float(np.mean(v)) for s, v in collected.items()}


def fold(evidence: dict, target: str | None) -> tuple[dict, dict[str, float]]:
    """(the fitted mix, the prior) for `target`: a catalog target gets the fit and prior that leave it out,
    exactly as the benchmark validated them; any other target gets the fit on every catalog target."""
    chosen = evidence["default"]["folds"].get(target) if target else None
    chosen = chosen or evidence["default"]["all_targets"]
    return chosen, loto_prior(evidence["gains"], {target})


# --- prior_score: the catalog prior plus a score of each source's trained network on the target -------------------
PRIOR_SCORE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def prior_score(prior_of: dict[str, float], sources: list[str], score, w: float) -> np.ndarray:
    """The prior + trained-network score ranking, higher first:

        value(s, t) = z_t(prior(s)) + w * z_t(score(s, t)),

    z_t standardising over target t's candidate sources; prior(s) is s's mean measured gain on the catalog
    targets other than t (`loto_prior`), score(s, t) a transferability score (LogME, You et al., ICML 2021) of
    s's stage-1 network on t's own images. A source the prior never measured gets the mean prior of the others, so
    the score alone places it; when no source has a prior, the value is the score's z alone."""
    z_score = standardise(score)
    known = [prior_of[s] for s in sources if s in prior_of]
    if not known:
        return z_score
    neutral = float(np.mean(known))
    return standardise([prior_of.get(s, neutral) for s in sources]) + float(w) * z_score


def fit_prior_score(gains: dict[str, dict[str, float]], scores: dict[str, dict[str, float]], exclude=()) -> float:
    """The weight w of `prior_score` (from PRIOR_SCORE_WEIGHTS) with the best mean weighted tau over the targets
    not in `exclude`, each target u scored with the prior that leaves out `exclude` and u itself, so no target's own
    accuracies enter its score. gains, scores: target -> source -> value. A tie keeps the smaller w."""
    targets = [t for t in gains if t not in exclude]
    if not targets:
        raise ValueError("fitting prior_score needs at least one target besides the held-out ones.")
    means = []
    for w in PRIOR_SCORE_WEIGHTS:
        taus = []
        for u in targets:
            sources = list(gains[u])
            value = prior_score(loto_prior(gains, {*exclude, u}), sources, [scores[u][s] for s in sources], w)
            taus.append(weighted_tau(value, [gains[u][s] for s in sources]))
        means.append(float(np.mean(taus)))
    return PRIOR_SCORE_WEIGHTS[int(np.argmax(np.round(means, 12)))]


def prior_score_evidence(gains: dict[str, dict[str, float]], scores: dict[str, dict[str, float]],
                         score_name: str, top_blocks: int) -> dict:
    """The `prior_score` section of the evidence file, by nested leave-one-target-out: for each catalog target t,
    w fitted on the other targets (`fit_prior_score` excluding t), and t's sources scored with the prior that
    leaves t out; the ranking's weighted tau and top-1 regret (points) on each t; w fitted on every target, for
    targets outside the catalog. Pure arithmetic on the benchmark's numbers: no network is trained here."""
    folds, per_target = {}, {}
    for t in gains:
        w = fit_prior_score(gains, scores, {t})
        sources = list(gains[t])
        value = prior_score(loto_prior(gains, {t}), sources, [scores[t][s] for s in sources], w)
        measured = np.array([gains[t][s] for s in sources])
        folds[t] = w
        per_target[t] = {"weighted_tau": weighted_tau(value, measured),
                         "top1_regret": float(100 * (measured.max() - measured[int(np.argmax(value))]))}
    taus = np.array([r["weighted_tau"] for r in per_target.values()])
    half = float(stats.t.ppf(0.975, len(taus) - 1) * taus.std(ddof=1) / np.sqrt(len(taus))) if len(taus) > 1 \
        else float("nan")
    return {"score": score_name, "top_blocks": int(top_blocks), "weights": list(PRIOR_SCORE_WEIGHTS),
            "folds": folds, "all_targets": fit_prior_score(gains, scores) if len(gains) > 1 else None,
            "per_target": per_target,
            "summary": {"mean_weighted_tau": float(taus.mean()), "ci95": [float(taus.mean() - half),
                                                                           float(taus.mean() + half)],
                        "interval": "95% Student-t over targets",
                        "mean_top1_regret": float(np.mean([r["top1_regret"] for r in per_target.values()])),
                        "n_targets": int(len(taus))}}


def prior_mix(evidence: dict, target: str | None, catalog_of: dict[str, str | None]) -> DistanceSpec:
    """The default ranking as a distance (finetune/benchmark/mix.py): value = c d / sd_distance - prior / sd_prior, or
    d / sd_distance when c is infinite. `catalog_of` maps each source's display name to its catalog name (or
    None: no prior, the mean prior of the others, so the distance alone orders it)."""
    chosen, prior = fold(evidence, target)
    base = configure(evidence["distances"][chosen["distance"]])
    c = float(chosen["c"]) if chosen["c"] is not None else math.inf
    sd_d, sd_p = float(chosen["sd_distance"]) or 1.0, float(chosen["sd_prior"]) or 1.0
    known = [prior[n] for n in catalog_of.values() if n in prior]
    neutral = float(np.mean(known)) if known else 0.0

    def mixed(source, target_domain) -> DistanceResult:
        found = base.function(source, target_domain)
        name = catalog_of.get(source.name)
        gain = prior.get(name) if name else None
        value = found.value / sd_d if math.isinf(c) else \
            c * found.value / sd_d - (neutral if gain is None else gain) / sd_p
        return DistanceResult(value, found.plan, found.cost,
                              {"distance": found.value, "prior_gain_points": None if gain is None else 100 * gain})

    if math.isinf(c):
        label = f"{base.label} (chosen leave-one-target-out by the catalog benchmark)"
    elif c <= 1e-6:
        label = (f"each source's measured transfer on the other catalog targets (the catalog prior), with "
                 f"{base.label} for ties and for sources the catalog never measured")
    else:
        label = f"catalog prior + {base.label} (weight c = {c:g} on the distance; fitted leave-one-target-out)"
    kind = "distance" if math.isinf(c) else "prior" if c <= 1e-6 else "mix"
    return DistanceSpec("prior_mix", mixed, base.represent, label, pairwise=base.function, table_key=base.table_key,
                        kind=kind, table_label=base.label)


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


def _validated_score(evidence: dict, distance_cfg: dict, any_prior: bool = True,
                     image_size: int | None = None) -> str | None:
    """The benchmark's name for this distance configuration at this image size, if the committed benchmark
    measured it. With no source the prior knows, prior_mix is its distance alone, and is validated as that."""
    if distance_cfg.get("name") == "prior_mix":
        return evidence["default"]["score"] if any_prior else evidence["default"]["all_targets"]["distance"]
    if distance_cfg.get("name") == "prior_score":  # with no source the prior knows, its score alone
        section = evidence.get("prior_score")
        return None if not section else "prior_score" if any_prior else str(section["score"])
    if distance_cfg.get("name") == "model_score":  # measured under the benchmark's own stage-1 protocol only
        same_protocol = str(evidence.get("protocol", "")).startswith(f"top{int(distance_cfg.get('top_blocks', 4))}/")
        return str(distance_cfg.get("score")) if same_protocol else None
    ignored = ("gamma", "evidence", "image_size", "_target_")
    wanted = {k: v for k, v in distance_cfg.items() if k not in ignored}
    size = int(evidence.get("image_size", 0)) if image_size is None else int(image_size)
    # Newer evidence lists every validated distance with its image size; older files, the mix's candidates only,
    # all at the evidence's own image size.
    measured_at = evidence.get("validated_distances") or {
        n: {**d, "image_size": int(evidence.get("image_size", size))} for n, d in evidence["distances"].items()}
    for name, measured in measured_at.items():
        if int(measured.get("image_size", size)) == size and \
                {k: v for k, v in measured.items() if k not in ignored} == wanted:
            return name
    return None


def source_gains(evidence: dict, target: str | None, catalog_names) -> dict[str, dict | None]:
    """Each catalog source's measured gain over the ImageNet network on the catalog targets other than `target`,
    in accuracy points: {catalog name: {"mean", "half", "n"}} (half = half-width of the 95% t-interval over those
    targets, nan with one target), None for a source the benchmark never measured."""
    out = {}
    for name in catalog_names:
        values = np.array([100 * float(g[name]) for t, g in evidence["gains"].items()
                           if t != target and name is not None and name in g])
        if len(values) == 0:
            out[name] = None
            continue
        half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))) \
            if len(values) > 1 else float("nan")
        out[name] = {"mean": float(values.mean()), "half": half, "n": int(len(values))}
    return out


def _points(gain: dict) -> str:
    return f"{gain['mean']:+.1f} ± {gain['half']:.1f} points"


def _against_zero(gain: dict) -> str:
    """Where a gain's 95% interval lies against 0, in words."""
    if gain["mean"] - gain["half"] > 0:
        return "a measured gain"
    if gain["mean"] + gain["half"] < 0:
        return "a measured loss"
    return "within the noise"


def decide(ranked: list[str], gains: list[dict | None], interchangeable: list[str],
           built: frozenset = frozenset()) -> tuple[str, str]:
    """(decision, headline): the one sentence a person acts on, from the ranked display names, their measured
    gains over ImageNet (points, None = never measured) and the sources interchangeable with the first.

    - "source": the first source's gain interval lies above 0 and no other source is interchangeable with it;
    - "interchangeable": its interval lies above 0, and the measured transfer of others did not differ from it;
    - "imagenet": its gain is within the noise (or below 0), so the ImageNet weights are as good a start;
    - "unmeasured": nothing measured says whether it beats ImageNet.
    A first source in `built` (built from a pool) is named as one to build, with the gain its kind of build made."""
    top, gain = ranked[0], gains[0]
    if gain is None:
        return "unmeasured", (f"Try {top} first: it ranks first, but no transfer measurement says whether it beats "
                              "starting from ImageNet; check with scripts/validate.py.")
    if not gain["mean"] - gain["half"] > 0:  # a nan interval (one target) is not evidence of a gain either
        return "imagenet", (f"Start from ImageNet: the first-ranked source, {top}, changed few-shot accuracy by "
                            f"{_points(gain)} against ImageNet weights alone, {_against_zero(gain)}.")
    if interchangeable:
        names = ", ".join([top, *interchangeable[:-1]]) + f" and {interchangeable[-1]}"
        return "interchangeable", (f"{names} are interchangeable: start from either. {top} gained "
                                   f"{_points(gain)} over ImageNet weights, and the others' measured transfer did "
                                   "not differ from it.")
    if top in built:
        return "build", (f"Build a source from the pool and start from it: {top}, the pool's classes closest to this "
                         f"target. Sources built this way gained {_points(gain)} over ImageNet weights alone on the "
                         "other catalog targets.")
    return "source", f"Start from {top}: it gained {_points(gain)} over ImageNet weights alone."


def verdict(evidence: dict | None, distance_cfg: dict, target: str | None, ranked: list[tuple[str, str | None]],
            image_size: int, backbone: dict | None = None, capped: bool = False) -> dict:
    """What the report says about a ranking. ranked: (display name, catalog name or None), best first.

    - decision, headline: see `decide`; gains: display name -> measured gain over ImageNet in points (or None);
    - validated: the configured distance's mean weighted tau, interval and top-1 regret in the benchmark;
    - interchangeable: the sources whose measured gain over ImageNet on the other catalog targets does not
      differ from the top source's (paired t-test over those targets, p >= 0.05);
    - start_from_imagenet: the top source's gain over ImageNet on the other catalog targets is within the noise
      (95% t-interval over targets reaching 0) or below it."""
    mismatch = None if evidence is None or backbone is None else backbone_mismatch(evidence, backbone)
    if evidence is None or (mismatch and mismatch[0] == "weights"):
        decision, headline = decide([ranked[0][0]], [None], [])
        why = (f"Nothing here is validated: {mismatch[1]}." if mismatch else
               "No catalog benchmark evidence was found, so nothing here is validated.")
        return {"validated": None, "interchangeable": [], "start_from_imagenet": None, "decision": decision,
                "headline": headline, "gains": {name: None for name, _ in ranked}, "sentences": [why]}
    out = {"protocol": evidence.get("protocol"), "sentences": [],
           "target_in_catalog": target is not None and target in evidence["gains"]}
    measured = measured_sources(evidence)
    score = _validated_score(evidence, distance_cfg, any(cat in measured for _, cat in ranked), image_size)
    if distance_cfg.get("name") in ("prior_mix", "model_score", "prior_score") and \
            image_size != int(evidence.get("image_size", image_size)):
        score = None  # measured at the evidence's image size only
    if mismatch:  # another width: the ranking was not validated with it
        out["sentences"].append(f"Not validated for this backbone: {mismatch[1]}.")
        score = None
    not_quoted = bool(score and (capped or len(ranked) < 2))
    if not_quoted:  # validated with every image, and several sources ranked
        out["sentences"].append("The benchmark's figure for this ranking is not quoted: it was measured with every "
                                "image of each dataset and several sources ranked, and this run "
                                + ("ranks a single source." if len(ranked) < 2 else
                                   "caps the images per class (features.max_images_per_class)."))
        score = None
    shortlist = distance_cfg.get("shortlist")
    if score and shortlist is not None and int(shortlist) < len(ranked):
        out["sentences"].append(f"With distance.shortlist={shortlist} only part of the ranking used the trained "
                                "networks: the figure validated for the whole ranking does not apply; "
                                "docs/rankers.md gives each shortlist size's leave-one-target-out figure.")
        score = None
    summaries = {**evidence["summary"], **({"prior_score": evidence["prior_score"]["summary"]}
                                           if evidence.get("prior_score") else {})}
    if score and score in summaries:
        s = summaries[score]
        out["validated"] = {"score": score, "mean_weighted_tau": s["mean_weighted_tau"], "ci95": s.get("ci95"),
                            "mean_top1_regret": s.get("mean_top1_regret"), "n_targets": s.get("n_targets")}
        lo, hi = s.get("ci95") or [float("nan")] * 2
        out["sentences"].append(
            f"On the {s.get('n_targets')} catalog targets of the benchmark ({evidence.get('protocol')}, each "
            f"target scored without its own measurements), this ranking's mean weighted Kendall tau with the "
            f"measured transfer was {s['mean_weighted_tau']:.2f} [95% CI {lo:.2f}, {hi:.2f}], and taking its "
            f"first source cost on average {s.get('mean_top1_regret', float('nan')):.2f} accuracy points "
            "against the best source.")
    else:
        out["validated"] = None
        if not mismatch and not not_quoted and not (shortlist is not None and int(shortlist) < len(ranked)):
            out["sentences"].append("This distance configuration is not in the committed benchmark: its ranking is "
                                    "not validated (run scripts/benchmark.py with it in benchmark.distances).")
    per_catalog = source_gains(evidence, target, {cat for _, cat in ranked})
    out["gains"] = {name: per_catalog[cat] for name, cat in ranked}
    gains = {t: g for t, g in evidence["gains"].items() if t != target}
    top_name, top_catalog = ranked[0]
    top_gain = out["gains"][top_name]
    same = []
    if top_gain is not None:
        for name, cat in ranked[1:]:
            pairs = [(g[top_catalog], g[cat]) for g in gains.values() if cat and top_catalog in g and cat in g]
            if len(pairs) >= 2:
                a, b = np.array(pairs).T
                p = 1.0 if np.all(a == b) else float(stats.ttest_rel(a, b).pvalue)
                if p >= 0.05:
                    same.append(name)
    out["interchangeable"] = same
    built = frozenset(name for name, cat in ranked if cat is not None and cat.startswith("built:"))
    out["decision"], out["headline"] = decide([name for name, _ in ranked], [out["gains"][n] for n, _ in ranked],
                                              same, built)
    if top_gain is None:
        out["start_from_imagenet"] = None
        out["sentences"].append(f"{top_name} has no transfer measurement in the catalog benchmark, so whether it "
                                "beats the ImageNet network is unknown: check with scripts/validate.py.")
        return out
    out["start_from_imagenet"] = out["decision"] == "imagenet"
    out["top_gain_points"] = [top_gain["mean"], top_gain["half"]]
    if same:
        out["sentences"].append(
            f"{top_name} is interchangeable with {', '.join(same)}: on the other catalog targets their measured "
            "transfer did not differ (paired t-test over targets, p >= 0.05), so do not read their order as a "
            "finding.")
    where = _against_zero(top_gain)
    out["sentences"].append(
        f"On the other catalog targets, pretraining on {top_name} changed few-shot accuracy by {_points(top_gain)} "
        f"on average against ImageNet weights alone (95% t-interval over targets): {where}"
        + ("." if where == "a measured gain" else
           "; starting from ImageNet is as good a choice on this evidence." if where == "within the noise" else
           "; starting from ImageNet is the better choice on this evidence."))
    return out
