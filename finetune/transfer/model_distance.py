"""The rankers that read each source's trained stage-1 network on the target (recommender.rankers.base.Ranker):

    ModelScore   distance=logme (or any score of finetune/transferability): one transferability score;
    PriorScore   distance=prior_score: the catalog prior plus the LogME of each source's network;
    Gain         distance=gain (the default): each source's predicted gain over ImageNet on this target.

Each source's stage-1 network (the benchmark's protocol: top blocks trained on the source, `finetune.*` for the
rest) is the shipped one, else trained on first use and reused from `finetune.checkpoint_dir` afterwards; the
target's train+val images go through it (its frozen bottom once, cached), and a score reads the adapted pooled
features (or the source-class probabilities, for LEEP and NCE) with the target's labels. Each ranker scores
higher-is-better and keeps what its value is made of in the result's parts.

The recommender does not import this package: it finds these classes by name through the entry points
pyproject.toml declares (group "recommender.rankers"); `register()` adds them by hand, for a process that runs
from a checkout that is not installed.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender.common.checks import Rule, choice, integer
from recommender.common.paths import CONF_DIR
from recommender import open_dataset
from recommender.data.datasets import DatasetError
from recommender.data.datasets import ImageList
from recommender.distances import DistanceSpec, configure
from recommender.rankers.base import Candidate, Ranker, Scored, register_ranker
from recommender.evidence import EvidenceError
from recommender.rankers.prior import loto_prior, prior_score

from finetune.transfer.shipped import provenance
from finetune.transferability import REGISTRY

log = logging.getLogger(__name__)
NAME = "model_score"
FINETUNE_DEFAULTS = CONF_DIR / "finetune" / "default.yaml"


def stage1_config(cfg: DictConfig, top_blocks: int) -> DictConfig:
    """The recommender's configuration with the stage-1 protocol the benchmark validated (finetune defaults,
    `top_blocks` top blocks trained); finetune options the configuration carries (a whole group, or single keys
    such as +finetune.checkpoint_dir=...) override those defaults."""
    c = cfg.copy()
    OmegaConf.set_struct(c, False)
    c.finetune = OmegaConf.merge(OmegaConf.load(FINETUNE_DEFAULTS), c.get("finetune") or {})
    c.finetune.strategy = "top_blocks"
    c.finetune.top_blocks = int(top_blocks)
    return c


def refuse_fixed_options(name: str, distance_cfg: dict) -> None:
    """distance=prior_score and distance=gain read their network protocol and scores from the evidence (what the
    benchmark fitted them with): a `top_blocks` or `score` given for them would be silently ignored, so it is
    refused, naming the distance that takes it."""
    given = [k for k in ("top_blocks", "score") if k in distance_cfg]
    if given:
        raise DatasetError(f"distance.{given[0]} does not apply to distance={name}: its network protocol and scores "
                           "are the ones the evidence was fitted with. Remove it, or rank by one network score "
                           "with distance=logme (which takes distance.score and distance.top_blocks).")


def check_checkpoint_dir(stage1: DictConfig) -> None:
    """The folder networks and their scores are cached in must be a writable folder: checked before any work,
    not when the first network is saved a minute into training."""
    from recommender.common.checks import writable_folder

    folder = str(stage1.finetune.checkpoint_dir)
    problem = writable_folder(folder)
    if problem:
        raise DatasetError(f"finetune.checkpoint_dir={folder} {problem} (RECOMMENDER_CHECKPOINT_DIR or "
                           "+finetune.checkpoint_dir=<folder>).")


def trained_networks(source_images, stage1: DictConfig, seed: int, jobs: int) -> dict[str, Path]:
    """Each source's stage-1 network (display name -> checkpoint): trained once, on first use, and cached by
    content in finetune.checkpoint_dir, where benchmark.py, validate.py and train.py find the same files. A new
    target then costs forward passes only. Networks still to train go `jobs` at a time in worker processes (the
    benchmark's pool: the same numbers whatever `jobs`), with a progress line per network and the time left."""
    from recommender.common.logs import Steps

    from finetune.parallel import in_parallel, worker_pool
    from finetune.transfer.stages import existing_network, train_source, transfer_config

    from recommender.common.files import clean_stale_temporaries

    config = transfer_config(stage1)
    clean_stale_temporaries(Path(stage1.finetune.checkpoint_dir).expanduser())  # left by killed runs
    paths = {images.name: existing_network(images, config, seed) for images in source_images}
    missing = [images for images in source_images if paths[images.name] is None]
    if missing:
        log.info("stage-1 networks: %d of %d sources to train once (about a minute each on a 2-core CPU), then "
                 "cached in %s for every later target", len(missing), len(source_images),
                 stage1.finetune.checkpoint_dir)
        with worker_pool(min(int(jobs), len(missing))) as pool:
            done = in_parallel(pool, train_source, [(images, stage1, seed) for images in missing],
                                Steps("stage-1 networks", len(missing), log), [i.name for i in missing])
        paths.update({images.name: path for images, path in zip(missing, done)})
    trained = {images.name for images in missing}
    # A cached file is checked (and trained again if damaged) by train_source itself; a shipped one was verified.
    return {images.name: paths[images.name] if images.name in trained else train_source(images, stage1, seed)
            for images in source_images}


SCORE_FORMAT = 1


def cached_score(checkpoint: Path, target, stage1: DictConfig, score_name: str, compute) -> float:
    """A transferability score of one stage-1 network on the target's train+val images, kept beside the network:
    a pure function of the checkpoint (named by its content and protocol), the target's content and split, and
    the score. A warm run reads it without loading Keras, the network or the target's activations."""
    from recommender import split_indices_of
    from recommender.common.cache import read_json, write_json

    indices = [split_indices_of(target, stage1, s, stage1.features.max_images_per_class) for s in ("train", "val")]
    payload = {"format": SCORE_FORMAT, "score": score_name, "checkpoint": Path(checkpoint).name,
               "target": target.fingerprint, "image_size": int(stage1.finetune.image_size),
               "split": [hashlib.sha256(np.asarray(i).tobytes()).hexdigest() for i in indices]}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    from finetune.transfer.stages import companion_dir

    path = companion_dir(checkpoint, stage1) / f"score-{key}.json"
    stored = read_json(path)
    if isinstance(stored, dict) and stored.get("payload") == payload and isinstance(stored.get("value"), float) \
            and np.isfinite(stored["value"]):
        return stored["value"]
    value = float(compute())
    if not np.isfinite(value):  # never cached, never ranked: a NaN would put every source in arbitrary order
        raise DatasetError(f"{score_name} of the network {Path(checkpoint).name} on the target is not a number "
                           f"({value}); the target's images may all be identical or unreadable: check the folder.")
    write_json(path, {"payload": payload, "value": value})
    return value


def network_score(checkpoint: Path, target, stage1: DictConfig, score_name: str) -> float:
    """A transferability score of one stage-1 network on the target's train+val images (its adapted features, or
    its source-class probabilities for LEEP and NCE), cached beside the network (`cached_score`)."""
    from finetune.transfer.adapted import adapted_split

    score = REGISTRY[score_name]

    def compute() -> float:
        pool = adapted_split(checkpoint, target, stage1, ("train", "val"))
        return float(score.function(pool.predictions if score.needs == "predictions" else pool.features,
                                    pool.labels))
    return cached_score(checkpoint, target, stage1, score_name, compute)


def require_splittable(name: str, source_images, stage1: DictConfig) -> None:
    """Every source whose network a ranking may train must split for training: checked before any work, not
    minutes into it, with the ranking that needs no network named as the way out."""
    from finetune.transfer.stages import check_splittable, transfer_config

    for images in source_images:
        try:
            check_splittable(images, transfer_config(stage1))
        except DatasetError as err:
            raise DatasetError(f"distance={name} trains a network on every source, and {err} Or rank without "
                               "training: distance=prior_mix.") from None


class ModelScore(Ranker):
    """`distance=logme` (or any feature or prediction score): rank by one transferability score of each
    source's stage-1 network on the target's train+val images, higher first."""

    name, kind = NAME, "model"

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> ModelScore:
        self.score_name = str(self.options.get("score", "logme"))
        if self.score_name not in REGISTRY:
            raise DatasetError(f"distance.score={self.score_name!r} is not a transferability score; use one of "
                               f"{sorted(REGISTRY)}.")
        self.top_blocks, self.seed = int(self.options.get("top_blocks", 4)), int(self.options.get("stage1_seed", 0))
        self.stage1 = stage1_config(self.cfg, self.top_blocks)
        check_checkpoint_dir(self.stage1)
        self.table = pairwise_table()
        self.label = (f"-{self.score_name} ({REGISTRY[self.score_name].reference}) of each source's stage-1 network "
                      f"(top {self.top_blocks} blocks trained on the source) on the target's train+val images")
        return self

    @classmethod
    def validated_as(cls, evidence: dict, options, any_prior: bool, image_size: int) -> str | None:
        """The score's own benchmark row, under the benchmark's stage-1 protocol and image size only."""
        same_protocol = str(evidence.get("protocol", "")).startswith(f"top{int(options.get('top_blocks', 4))}/")
        same_size = image_size == int(evidence.get("image_size", image_size))
        return str(options.get("score", "logme")) if same_protocol and same_size else None

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        networks = trained_networks([s.images for s in sources], self.stage1, self.seed,
                                    int(self.options.get("jobs", 1)))
        opened = open_dataset(target.images, self.stage1)
        origins = {name: provenance(path) for name, path in networks.items()}
        out = []
        for source in sources:
            value = network_score(networks[source.name], opened, self.stage1, self.score_name)
            log.debug("%s of %s's stage-1 network on %s: %.4f", self.score_name, source.name, target.name, value)
            out.append(Scored(value, notes=(networks_note(origins),), parts={
                self.score_name: value, "network": origins[source.name].to_dict()}))
        return out


def pairwise_table() -> DistanceSpec:
    """What the dataset-to-dataset table of a network ranker shows: it would need every dataset's network on every
    other, so it shows the model-free class-mean EMD, and the report names it."""
    table = configure({"name": "class_mean_emd", "ground_metric": "euclidean"})
    return DistanceSpec(table.name, table.function, table.represent, table.label, table_key={"pairwise": "class_mean_emd"})


class PriorScore(Ranker):
    """`distance=prior_score`: the catalog prior plus the LogME of each source's stage-1 network on the target,
    z-scored over the sources (recommender.rankers.prior.prior_score), with the weight the evidence fitted by
    nested leave-one-target-out: a catalog target gets the weight and prior that leave it out, any other target the
    weight fitted on every catalog target. Every source's network is trained once (`trained_networks`)."""

    name, kind, uses_evidence = "prior_score", "prior_model", True

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> PriorScore:
        refuse_fixed_options("prior_score", self.options)
        section = evidence.get("prior_score")
        if not section:
            raise EvidenceError(f"distance=prior_score: the evidence file {self.options.get('evidence') or 'shipped'} "
                                "has no prior_score section; run scripts/studies/study_rankers.py on the "
                                "benchmark.json beside it.")
        self.score_name, top_blocks = str(section["score"]), int(section["top_blocks"])
        if self.score_name not in REGISTRY:
            raise EvidenceError(f"distance.evidence: prior_score.score={self.score_name!r} is not a transferability "
                                f"score (one of {sorted(REGISTRY)}); fix the file or run the benchmark again.")
        self.seed = int(self.options.get("stage1_seed", evidence.get("benchmark", {}).get("stage1_seed", 0)))
        self.stage1 = stage1_config(self.cfg, top_blocks)
        check_checkpoint_dir(self.stage1)
        self.w = float(section["folds"][held_out] if held_out in section["folds"] else section["all_targets"])
        self.prior_ = loto_prior(evidence["gains"], {held_out})
        self.table = pairwise_table()
        self.label = (f"catalog prior + {self.w:g} × {self.score_name} ({REGISTRY[self.score_name].reference}) of "
                      f"each source's stage-1 network (top {top_blocks} blocks trained on the source) on the "
                      "target's train+val images, both z-scored over the sources; the weight fitted "
                      "leave-one-target-out by the catalog benchmark")
        return self

    @classmethod
    def validated_as(cls, evidence: dict, options, any_prior: bool, image_size: int) -> str | None:
        """Its benchmark row at the evidence's image size; with no source the prior knows, its score alone."""
        section = evidence.get("prior_score")
        if not section or image_size != int(evidence.get("image_size", image_size)):
            return None
        return "prior_score" if any_prior else str(section["score"])

    def shortlist(self, catalog_of: dict[str, str | None]) -> tuple[list[str], list[str]]:
        """(the sources to train and score, the rest), from display name -> catalog name: the prior's first
        `distance.shortlist` sources and every source it never measured (nothing else can place them); the rest
        follow in the prior's order."""
        by_prior = sorted((n for n, c in catalog_of.items() if c in self.prior_),
                          key=lambda n: (-self.prior_[catalog_of[n]], n))
        k = self.options.get("shortlist")
        rest = [] if k is None else by_prior[int(k):]
        return [n for n in catalog_of if n not in rest], rest

    def check(self, target: ImageList, sources: list[ImageList], catalog_of: dict) -> None:
        chosen, _ = self.shortlist({s.name: catalog_of.get(s.name) for s in sources})
        require_splittable("prior_score", [s for s in sources if s.name in chosen], self.stage1)

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        shortlist, rest = self.shortlist({s.name: s.catalog for s in sources})
        by_name = {s.name: s for s in sources}
        chosen = [by_name[n] for n in shortlist]
        k = self.options.get("shortlist")
        notes = () if not rest else (
            f"Shortlist (distance.shortlist={k}): only {', '.join(shortlist)} were trained and ranked by the "
            f"combined score; {', '.join(rest)} follow in the catalog prior's order, untrained (docs/rankers.md shows "
            "what a shortlist of each size costs in ranking quality).",)
        networks = trained_networks([s.images for s in chosen], self.stage1, self.seed,
                                    int(self.options.get("jobs", 1)))
        opened = open_dataset(target.images, self.stage1)
        measured = {}
        for source in chosen:
            measured[source.name] = network_score(networks[source.name], opened, self.stage1, self.score_name)
            log.debug("%s of %s's stage-1 network on %s: %.4f", self.score_name, source.name, target.name,
                      measured[source.name])
        prior_of = {s.name: self.prior_[s.catalog] for s in sources if s.catalog in self.prior_}
        combined = prior_score({n: g for n, g in prior_of.items() if n in shortlist}, shortlist,
                               [measured[n] for n in shortlist], self.w)
        origins = {name: provenance(path) for name, path in networks.items()}
        values = {}
        for name, value in zip(shortlist, combined):
            gain = prior_of.get(name)
            values[name] = Scored(float(value), notes=(*notes, networks_note(origins)), parts={
                self.score_name: measured[name], "prior_gain_points": None if gain is None else 100 * gain,
                "network": origins[name].to_dict()})
        for i, name in enumerate(rest):  # below every shortlisted source, in the prior's order
            values[name] = Scored(float(np.min(combined)) - 1 - i, parts={
                "shortlisted": False, "prior_gain_points": 100 * prior_of[name]})
        return [values[s.name] for s in sources]


class Gain(Ranker):
    """`distance=gain`: each source's predicted accuracy gain over the ImageNet network on *this* target, in points,
    with a 90% interval (recommender.rankers.gain). The features are each source network's scores on the target
    minus the ImageNet network's own (the few-shot probe, LogME, ..., as the evidence's model names them) and, for a
    source the catalog measured, its prior (mean gain on the other catalog targets). A catalog target gets the
    model fitted without it (nested leave-one-target-out); any other target the model fitted on every catalog
    target; a source the catalog never measured (a user's folder) the model fitted without the prior."""

    name, kind, uses_evidence = "gain", "gain", True

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> Gain:
        from recommender.rankers.gain import PRIOR, model_scores

        refuse_fixed_options("gain", self.options)
        self.section = evidence.get("gain")
        if not self.section:
            raise EvidenceError(f"distance=gain: the evidence file {self.options.get('evidence') or 'shipped'} has "
                                "no gain section; run scripts/studies/study_gain.py on the benchmark.json beside it.")
        top_blocks = int(str(self.section["protocol"]).split("/")[0].removeprefix("top"))
        self.seed = int(self.options.get("stage1_seed", evidence.get("benchmark", {}).get("stage1_seed", 0)))
        self.stage1 = stage1_config(self.cfg, top_blocks)
        check_checkpoint_dir(self.stage1)
        self.held_out = held_out
        self.prior_ = loto_prior(evidence["gains"], {held_out})
        self.score_names = model_scores(self.section)
        unknown = [n for n in self.score_names if n not in REGISTRY or REGISTRY[n].needs != "features"]
        if unknown:
            raise EvidenceError(f"distance.evidence: the gain model names {unknown}, which are not feature scores "
                                "of finetune.transferability; fix the file or run scripts/studies/study_gain.py again.")
        self.table = pairwise_table()
        fold = self.section["folds"].get(held_out) or self.section["all_targets"]
        reads_prior = PRIOR in fold["catalog"]["features"]
        self.label = ("the predicted gain over ImageNet on this target: a linear model of each source network's "
                      "scores on the target relative to the ImageNet network's (" + ", ".join(
                          f for f in fold["catalog"]["features"] if f != PRIOR) + ")"
                      + (" and, for a catalog source, the catalog prior" if reads_prior else "")
                      + ", fitted leave-one-target-out on the catalog benchmark, with a 90% conformal interval")
        return self

    def check(self, target: ImageList, sources: list[ImageList], catalog_of: dict) -> None:
        require_splittable("gain", sources, self.stage1)

    def probe_note(self, target) -> tuple[str, ...]:
        """What the report says when the few-shot probe ran otherwise than on the catalog targets the model was
        fitted on: fewer shots (a class of the target's train+val images holds 20 or fewer), or 10-way episodes (a
        target of more than 10 classes): `probe.departures`."""
        from finetune.fewshot.episodes import pool_labels
        from finetune.transferability.probe import departures

        return departures(pool_labels(target, self.stage1)) if "fewshot_probe" in self.score_names else ()

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        from recommender.common.logs import Steps
        from recommender.rankers.gain import shipped_predictions

        from finetune.transfer.adapted import imagenet_scores

        networks = trained_networks([s.images for s in sources], self.stage1, self.seed,
                                    int(self.options.get("jobs", 1)))
        origins = {name: provenance(path) for name, path in networks.items()}
        opened = open_dataset(target.images, self.stage1)
        reference = imagenet_scores(opened, self.stage1, self.score_names)
        steps = Steps("scoring each source's network on the target", len(sources), log)
        measured = {}
        for source in sources:
            measured[source.name] = {name: network_score(networks[source.name], opened, self.stage1, name)
                                     for name in self.score_names}
            steps.step(source.name)
        names = [s.name for s in sources]
        notes = (networks_note(origins), *self.probe_note(opened))
        prior_points = {s.name: 100 * self.prior_[s.catalog] for s in sources if s.catalog in self.prior_}
        relative = {n: {k: measured[n][k] - reference[k] for k in self.score_names} for n in names}
        predicted, threshold = shipped_predictions(self.section, self.held_out, names, relative, prior_points)
        return [Scored(mean, notes=notes, parts={
            "predicted_gain_points": mean, "low_points": low, "high_points": high,
            "interval": f"{int(round(100 * model.coverage))}%", "model": path, "half_width": model.q_,
            "threshold_half_widths": threshold, **measured[name], "prior_gain_points": prior_points.get(name),
            "imagenet_scores": dict(reference), "network": origins[name].to_dict()}) for name, (mean, low, high, path, model) in zip(names, predicted)]


def networks_note(origins: dict) -> str:
    """One sentence of where the ranked networks came from (shipped and verified, or trained here), naming any
    shipped file that was refused."""
    from finetune.transfer.shipped import networks_dir

    shipped = sorted(n for n, o in origins.items() if o.origin == "shipped")
    here = sorted(n for n, o in origins.items() if o.origin != "shipped")
    refused = sorted(n for n, o in origins.items() if o.refused)
    text = (f"Networks: {len(shipped)} shipped, each checked against the SHA-256 list of the networks folder "
            f"({networks_dir().name}; ranking.json names the files)" if shipped else "Networks: none shipped") + (f", {len(here)} trained here ({', '.join(here)})" if here else "") + "."
    if refused:
        text += (" Refused shipped file(s), trained here instead: "
                 + "; ".join(f"{n} ({origins[n].refused})" for n in refused) + ".")
    return text


def register() -> None:
    """Register the rankers that need trained networks (model_score, prior_score, gain) in this process, for a
    checkout that is not installed (an install declares them as entry points)."""
    register_ranker(NAME, ModelScore)
    register_ranker("prior_score", PriorScore)
    register_ranker("gain", Gain)


# Each factory's own options, read by recommender.checks when the distance is selected.
_NETWORK_RULES = (Rule("distance.score", choice(sorted(REGISTRY)), optional=True),
                  # at most N_BLOCKS - 1 top blocks (one always stays frozen), as finetune.top_blocks
                  Rule("distance.top_blocks", integer(1, 15), optional=True),
                  Rule("distance.stage1_seed", integer(0), optional=True))
ModelScore.rules = (*_NETWORK_RULES, Rule("distance.jobs", integer(1, 64), optional=True))
Gain.rules = (Rule("distance.stage1_seed", integer(0), optional=True),
                       Rule("distance.jobs", integer(1, 64), optional=True))
PriorScore.rules = (*_NETWORK_RULES,
                              Rule("distance.jobs", integer(1, 64), optional=True),  # networks trained at a time
                              Rule("distance.shortlist", integer(1, nullable=True), optional=True))  # sources trained
