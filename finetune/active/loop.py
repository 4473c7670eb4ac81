"""Find a rare class with few labels: a simulated active-learning campaign on top of the recommended source.

A labelled target stands in for a user's unlabelled pool: its rare class is subsampled to `rare_fraction`,
every other class becomes "not rare", and the labels are hidden behind an oracle. The learner (a logistic
regression on the start network's cached features) starts from a few labelled images, asks the oracle about
`batch` images per round chosen by a strategy, and retrains. Every strategy and both starts (the chosen source
network and ImageNet) see the same subsample, split and first labels per seed, so their curves are paired.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender import DatasetError, ImageList, open_dataset, recommend, same_dataset

from finetune.transfer.adapted import BASELINE, adapted_split, imagenet_split
from finetune.evaluation import mean_ci
from finetune.transferability.logistic import logistic_probabilities

log = logging.getLogger(__name__)
STRATEGIES = ("random", "uncertainty", "margin", "top_score", "proportional")
MIN_TEST_POSITIVES = 10
SPLITS = ("train", "val", "test")  # the campaign uses every image of the target


def binary_entropy(p) -> np.ndarray:
    """-p log p - (1 - p) log(1 - p), in nats (0 at p in {0, 1}, log 2 at p = 1/2)."""
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def choose(strategy: str, p_rare: np.ndarray, batch: int, rng: np.random.Generator,
           random_share: float = 0.2) -> np.ndarray:
    """Positions (into `p_rare`, the unlabelled images' scores) of the next `batch` images to label.

    random: uniform. uncertainty: highest binary entropy. margin: smallest |p(rare) - p(not rare)|, which for a
    binary model orders images exactly as entropy does. top_score: most likely rare (exploitation).
    proportional: a `random_share` of the batch uniformly, the rest sampled with probability proportional to
    entropy, so images the model is sure about still get asked about now and then."""
    n = len(p_rare)
    batch = min(int(batch), n)
    if strategy == "random":
        return rng.choice(n, batch, replace=False)
    if strategy == "uncertainty":
        return np.argsort(-binary_entropy(p_rare), kind="stable")[:batch]
    if strategy == "margin":
        return np.argsort(np.abs(2 * p_rare - 1), kind="stable")[:batch]
    if strategy == "top_score":
        return np.argsort(-p_rare, kind="stable")[:batch]
    if strategy == "proportional":
        n_random = int(round(batch * float(random_share)))
        # float64: float32 weights can miss NumPy's sum-to-one tolerance once normalised
        weights = np.asarray(binary_entropy(p_rare), np.float64) + 1e-12
        picked = rng.choice(n, batch - n_random, replace=False, p=weights / weights.sum())
        rest = np.setdiff1d(np.arange(n), picked)
        return np.concatenate([picked, rng.choice(rest, min(n_random, len(rest)), replace=False)])
    raise DatasetError(f"strategy={strategy!r}; use one of {', '.join(STRATEGIES)} or all.")


def r_precision(scores, is_rare) -> float:
    """Precision among the R highest-scored images, R = the number of rare images (Manning et al., IR, 8.4)."""
    is_rare = np.asarray(is_rare, bool)
    r = int(is_rare.sum())
    if r == 0:
        return float("nan")
    return float(is_rare[np.argsort(-np.asarray(scores), kind="stable")[:r]].mean())


@dataclass
class Task:
    """One seed's campaign setting: which images take part, which are rare, the pool, the test set, the first
    labels, and which sub-kind (rare class) each rare image belongs to."""

    images: np.ndarray  # indices into the target's image rows
    is_rare: np.ndarray  # per row of `images`
    kind: np.ndarray  # per row: index into the rare classes, -1 for not rare
    pool: np.ndarray  # positions into `images`
    test: np.ndarray
    initial: np.ndarray  # positions into `images`, a subset of `pool`


def make_task(labels: np.ndarray, rare: list[int], class_names: list[str], cfg, seed: int) -> Task:
    """Subsample the rare class(es) to `rare_fraction` of the images, split pool/test (stratified), pick the
    first labels: all seeded, and the same for every strategy and start."""
    rng = np.random.default_rng([int(seed), 7])
    labels = np.asarray(labels)
    rare_mask = np.isin(labels, rare)
    others = np.flatnonzero(~rare_mask)
    rare_rows = np.flatnonzero(rare_mask)
    fraction = float(cfg.rare_fraction)
    wanted = int(round(fraction / (1 - fraction) * len(others)))
    if wanted <= len(rare_rows):
        rare_rows = np.sort(rng.choice(rare_rows, wanted, replace=False))
    else:  # too few rare images for the fraction: keep them all and subsample the others instead
        others = np.sort(rng.choice(others, int(round(len(rare_rows) * (1 - fraction) / fraction)), replace=False))
    images = np.concatenate([rare_rows, others])
    is_rare = np.concatenate([np.ones(len(rare_rows), bool), np.zeros(len(others), bool)])
    kind = np.concatenate([np.searchsorted(rare, labels[rare_rows]), np.full(len(others), -1)])
    test_fraction = float(cfg.test_fraction)
    needed = int(np.ceil(max(MIN_TEST_POSITIVES / test_fraction,
                             MIN_TEST_POSITIVES + int(cfg.initial_positives) + 1)))
    if len(rare_rows) < needed:
        names = "+".join(class_names[r] for r in rare)
        raise DatasetError(
            f"rare_class={names}: {len(rare_rows)} rare images at rare_fraction={fraction}; the campaign needs at "
            f"least {needed} ({MIN_TEST_POSITIVES} in the test set at test_fraction={test_fraction}, and "
            f"initial_positives={cfg.initial_positives} plus at least one to find in the pool). Raise "
            "rare_fraction, lower initial_positives, or choose a larger class.")
    test = []
    for flag in (True, False):
        members = np.flatnonzero(is_rare == flag)
        test.append(rng.choice(members, int(round(len(members) * test_fraction)), replace=False))
    test = np.sort(np.concatenate(test))
    pool = np.setdiff1d(np.arange(len(images)), test)
    n_test_rare = int(is_rare[test].sum())
    if n_test_rare < MIN_TEST_POSITIVES:
        raise DatasetError(f"the test set holds {n_test_rare} rare images; at least {MIN_TEST_POSITIVES} are "
                           "needed to measure anything. Raise rare_fraction or test_fraction.")
    pool_rare, pool_other = pool[is_rare[pool]], pool[~is_rare[pool]]
    if cfg.initial_from_first_kind:
        pool_rare = pool_rare[kind[pool_rare] == 0]  # show the learner one sub-kind only
    if len(pool_rare) <= int(cfg.initial_positives) or len(pool_other) < int(cfg.initial_negatives):
        raise DatasetError(f"the pool holds {len(pool_rare)} rare and {len(pool_other)} other images; "
                           f"initial_positives={cfg.initial_positives} and initial_negatives="
                           f"{cfg.initial_negatives} need more. Lower them or raise rare_fraction.")
    initial = np.concatenate([rng.choice(pool_rare, int(cfg.initial_positives), replace=False),
                              rng.choice(pool_other, int(cfg.initial_negatives), replace=False)])
    return Task(images, is_rare, kind, pool, test, np.sort(initial))


def rounds_the_pool_allows(tasks: list[Task], batch: int, rounds: int) -> int:
    """The rounds every seed's campaign can run and still leave an unlabelled image to score afterwards: at most
    `rounds`, fewer when a small pool would run out (the report says so)."""
    unlabelled = min(len(t.pool) - len(t.initial) for t in tasks)
    return max(0, min(int(rounds), (unlabelled - 1) // int(batch)))


def campaign(features: np.ndarray, task: Task, strategy: str, cfg, seed: int,
             rounds: int | None = None) -> tuple[list[dict], dict]:
    """Run one campaign of `rounds` rounds (default cfg.rounds); returns the measures after each round (round 0:
    the first labels) and the final model's view of the unlabelled pool (positions, rare probabilities), for
    the contact sheet and to_label."""
    from sklearn.metrics import average_precision_score

    x = np.asarray(features, np.float32)[task.images]
    rng = np.random.default_rng([int(seed), STRATEGIES.index(strategy), 11])
    labelled = set(task.initial.tolist())
    pool_positives = int(task.is_rare[task.pool].sum())
    test_rare = task.is_rare[task.test]
    n_rounds = int(cfg.rounds if rounds is None else rounds)
    rounds = []
    for r in range(n_rounds + 1):
        known = np.array(sorted(labelled))
        unlabelled = np.setdiff1d(task.pool, known)
        queries = np.concatenate([unlabelled, task.test])
        _, p = logistic_probabilities(x[known], task.is_rare[known].astype(int), x[queries], float(cfg.c))
        p_rare = p[:, 1]
        p_pool, p_test = p_rare[: len(unlabelled)], p_rare[len(unlabelled):]
        found = task.is_rare[known]
        top50 = unlabelled[np.argsort(-p_pool, kind="stable")[:50]]
        base_rate = float(test_rare.mean())
        rp = r_precision(p_test, test_rare)
        rounds.append({
            "round": r, "labels": int(len(known)), "found": float(found.sum() / pool_positives),
            "found_count": int(found.sum()),
            "found_by_kind": [int(((task.kind[known] == k) & found).sum()) for k in range(int(task.kind.max()) + 1)],
            "r_precision": rp, "average_precision": float(average_precision_score(test_rare, p_test)),
            "lift": rp / base_rate, "pool_precision_at_50": float(task.is_rare[top50].mean()),
        })
        if r == n_rounds:
            return rounds, {"unlabelled": unlabelled, "p_rare": p_pool}
        picked = unlabelled[choose(strategy, p_pool, int(cfg.batch), rng, float(cfg.proportional_random_share))]
        labelled.update(picked.tolist())
    raise AssertionError("unreachable")


@dataclass
class ActiveResult:
    target: str
    rare_classes: list[str]
    start: str  # the chosen start's display name
    start_how: str
    pool_positives: list[int]  # per seed
    pool_sizes: list[int]
    curves: dict  # start ("source" | "imagenet") -> strategy -> list over seeds of list of round dicts
    final: dict  # (start, strategy) of seed 0 -> final view (for the contact sheet and to_label)
    refs: np.ndarray  # image path of each target row
    tasks: list[Task]
    config: dict = field(default_factory=dict)
    seconds: float = 0.0
    rounds_run: int | None = None  # fewer than config["rounds"] when the pool ran out
    notes: list[str] = field(default_factory=list)

    def summary(self, start: str, strategy: str) -> list[dict]:
        """Per round: mean and 95% interval over seeds of every measure."""
        per_seed = self.curves[start][strategy]
        out = []
        for r in range(len(per_seed[0])):
            row = {"round": r, "labels": per_seed[0][r]["labels"]}
            for key in ("found", "r_precision", "average_precision", "lift", "pool_precision_at_50"):
                mean, half = mean_ci(np.array([[s[r][key] for s in per_seed]]))
                row[key], row[f"{key}_ci95"] = float(mean[0]), float(half[0])
            out.append(row)
        return out

    def labels_to_half(self, start: str, strategy: str) -> list[int | None]:
        """Per seed, the labels spent when half of the pool's rare images had been found (None: not reached)."""
        out = []
        for rounds in self.curves[start][strategy]:
            out.append(next((r["labels"] for r in rounds if r["found"] >= 0.5), None))
        return out


def resolve_rare(images: ImageList, rare_class) -> list[int]:
    """The label indices of the requested rare class(es); one error naming the target's classes otherwise."""
    requested = [str(rare_class)] if isinstance(rare_class, str) else [str(c) for c in rare_class]
    unknown = [c for c in requested if c not in images.class_names]
    if not requested or unknown:
        raise DatasetError(f"rare_class={unknown[0] if unknown else rare_class!r} is not a class of "
                           f"{images.name!r}; its classes are: {', '.join(images.class_names)}.")
    return sorted(images.class_names.index(c) for c in dict.fromkeys(requested))


def start_features(start: str, target: ImageList, cfg: DictConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, refs) of every image of the target under the start network: the ImageNet network, or
    the source's stage-1 network (trained once and cached, as `train.py` trains it)."""
    from finetune.transfer.stages import train_source, transfer_config

    if start == BASELINE:
        split = imagenet_split(target, cfg, SPLITS)
    else:
        checkpoint = train_source(start, cfg, int(cfg.finetune.seeds[0]))
        split = adapted_split(checkpoint, target, transfer_config(cfg), SPLITS)
    return split.features, split.labels, split.refs


def choose_start(cfg: DictConfig) -> tuple[str, str, str]:
    """(ref to open, display name, why) of the start network: `auto` asks the recommender."""
    requested = str(cfg.source)
    if requested == BASELINE:
        return BASELINE, BASELINE, "requested: source=imagenet"
    sources = None if requested == "auto" else [requested]
    ranking = recommend(cfg=OmegaConf.merge(cfg, {"report": {"explain": False}}), sources=sources)
    best = ranking.first  # the first-ranked source: active learning compares starts, whatever the verdict
    how = (f"recommended: first of {len(ranking.sources)} sources by the default ranking ({ranking.distance_name}); "
           f"its verdict: {ranking.headline}" if requested == "auto" else "forced by source=<name>")
    return best.ref, best.name, how


def run_active_learning(cfg: DictConfig) -> ActiveResult:
    """The whole campaign: each requested strategy (`strategy`, or all of them) from the start network and from
    the ImageNet network, over the seeds, on the same pools, rounds and test sets, so the starts pair."""
    start_time = time.perf_counter()
    al = cfg
    strategies = list(STRATEGIES) if al.strategy == "all" else [str(al.strategy)]
    for s in strategies:
        if s not in STRATEGIES:
            raise DatasetError(f"strategy={s!r}; use one of {', '.join(STRATEGIES)} or all.")
    target = open_dataset(str(cfg.target), cfg)
    if str(cfg.source) not in ("auto", BASELINE) and same_dataset(open_dataset(str(cfg.source), cfg), target):
        raise DatasetError(f"source={cfg.source!r} is the target itself; choose another source, source=auto or "
                           "source=imagenet.")
    rare = resolve_rare(target, cfg.rare_class)
    seeds = [int(al.seed) + i for i in range(int(al.n_seeds))]
    for seed in seeds:  # a campaign that cannot be set up fails now, before any network runs
        make_task(target.labels, rare, target.class_names, al, seed)
    start_ref, start_name, how = choose_start(cfg)
    starts = {"source": start_ref} if start_ref == BASELINE else {"source": start_ref, "imagenet": BASELINE}
    features = {}
    refs = labels = None
    for key, ref in starts.items():
        features[key], labels_here, refs_here = start_features(ref, target, cfg)
        if refs is not None and not np.array_equal(refs, refs_here):
            raise DatasetError(f"{target.name!r}: the images differ between networks; run again.")
        refs, labels = refs_here, labels_here
    tasks = [make_task(labels, rare, target.class_names, al, s) for s in seeds]
    n_rounds = rounds_the_pool_allows(tasks, int(al.batch), int(al.rounds))
    notes = []
    if n_rounds < int(al.rounds):
        smallest = min(len(t.pool) - len(t.initial) for t in tasks)
        notes.append(f"The pool ran out: {smallest} unlabelled images (the smallest seed's pool) allow {n_rounds} "
                     f"round(s) of {al.batch} with an image left to score, so {n_rounds} of the {al.rounds} "
                     "requested rounds were run. Lower batch, or use a larger target.")
        log.warning(notes[-1])
    curves = {key: {s: [] for s in strategies} for key in starts}
    final = {}
    for key in starts:
        for strategy in strategies:
            for seed, task in zip(seeds, tasks):
                rounds, view = campaign(features[key], task, strategy, al, seed, n_rounds)
                curves[key][strategy].append(rounds)
                if seed == seeds[0]:
                    final[(key, strategy)] = view
    return ActiveResult(target=target.name, rare_classes=[target.class_names[r] for r in rare], start=start_name,
                        start_how=how, pool_positives=[int(t.is_rare[t.pool].sum()) for t in tasks],
                        pool_sizes=[len(t.pool) for t in tasks], curves=curves, final=final, refs=refs, tasks=tasks,
                        config=OmegaConf.to_container(cfg, resolve=True), seconds=time.perf_counter() - start_time,
                        rounds_run=n_rounds, notes=notes)
