"""Bad input, as a user types it: every case exits 2 with one `error:` line naming the option or file, and no
traceback. The table is the one in docs/bad_inputs.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_WEIGHTS, make_folder_dataset, write_image

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 40)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    d = {"root": root}
    d["target"] = make_folder_dataset(root / "target", COLOURS, per_class=12)
    d["source"] = make_folder_dataset(root / "source", COLOURS, per_class=12, seed=1)
    d["one_class"] = make_folder_dataset(root / "one_class", {"red": (220, 30, 30)}, per_class=4)
    d["presplit"] = root / "presplit"
    for part in ("train", "test"):
        make_folder_dataset(d["presplit"] / part, COLOURS, per_class=2)
    d["small_class"] = make_folder_dataset(root / "small_class", {"red": (220, 30, 30), "blue": (30, 30, 220)},
                                           per_class=12)
    for p in sorted((d["small_class"] / "blue").iterdir())[4:]:
        p.unlink()  # blue keeps 4 images: too few to split for fine-tuning
    d["file"] = root / "a_file"
    d["file"].write_text("not a folder")
    d["text"] = root / "query.jpg"
    d["text"].write_text("not an image")
    d["image"] = write_image(root / "query.png", (220, 30, 30))
    shipped = json.loads((ROOT / "conf" / "evidence" / "catalog.json").read_text())
    shipped.pop("prior_score")
    d["old_evidence"] = root / "old_evidence.json"  # an evidence file from before distance=prior_score
    d["old_evidence"].write_text(json.dumps(shipped))
    crafted = json.loads((ROOT / "conf" / "evidence" / "catalog.json").read_text())
    first = next(iter(crafted["distances"]))
    crafted["distances"][first] = {"_target_": "subprocess.Popen", "args": ["touch", str(root / "pwned")],
                                   "name": "class_mean_emd"}
    d["crafted_evidence"] = root / "crafted_evidence.json"  # evidence that names code: it must never run
    d["crafted_evidence"].write_text(json.dumps(crafted))
    nan_gain = json.loads((ROOT / "conf" / "evidence" / "catalog.json").read_text())
    nan_gain["gains"]["plants"]["flowers"] = float("nan")
    d["nan_evidence"] = root / "nan_evidence.json"
    d["nan_evidence"].write_text(json.dumps(nan_gain))
    d["truncated_weights"] = root / "truncated_weights"  # the weights file cut short, as a failed copy leaves it
    d["truncated_weights"].mkdir()
    weights = next(SHARED_WEIGHTS.glob("*0.35_224_no_top.h5"))
    (d["truncated_weights"] / weights.name).write_bytes(weights.read_bytes()[:100_000])
    d["list_evidence"] = root / "list_evidence.json"
    d["list_evidence"].write_text("[1, 2, 3]")
    import shutil

    d["target_copy"] = shutil.copytree(d["target"], root / "target_copy")  # the target's images, byte for byte
    d["edited_spec"] = root / "edited.json"  # a source spec whose classes were changed by hand
    d["edited_spec"].write_text(json.dumps({
        "format": 1, "kind": "subset", "name": "edited", "identity": "0" * 20, "chosen": [], "about": {},
        "members": [{"dataset": str(d["source"]), "fingerprint": "f", "classes": ["red", "blue"]}]}))
    d["not_a_spec"] = root / "settings.json"
    d["not_a_spec"].write_text(json.dumps({"kind": "folder"}))
    d["empty_weights"] = root / "no_weights"
    d["empty_weights"].mkdir()
    import keras

    for name, (inputs, outputs) in {"head_64d": (64, 16), "head_1d": (1280, 1)}.items():
        head = keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(outputs)])
        d[name] = root / f"{name}.keras"
        head.save(d[name])
    return d


def _common(d, tmp_path):
    return [f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35", "backbone.image_size=64",
            f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false", f"hydra.run.dir={tmp_path / 'run'}"]


# (script, overrides (formatted with the fixture's paths), what the error line must name)
CASES = [
    ("recommend", ["target={target}", "distance=class_mean_emd", "distance.ground_metric=foo"], "distance.ground_metric"),
    ("recommend", ["target={target}", "distance.gamma=-1"], "distance.gamma"),
    ("recommend", ["target={target}", "distance.ground_metric=cosine"], "distance.ground_metric"),  # not in prior_mix
    ("recommend", ["target={target}", "distance=nearest"], "distance/nearest"),
    ("recommend", ["target={target}", "distance.gamma=abc"], "distance.gamma"),
    ("recommend", ["target={target}", "backbone.alpha=abc"], "backbone.alpha"),
    ("recommend", ["target={target}", "backbone.alpha=0.75", "backbone.weights_dir={empty_weights}"], "alpha=0.75"),
    ("recommend", ["target={target}", "features.batch_size=0"], "features.batch_size"),
    ("recommend", ["target={target}", "features.batch_size=-1"], "features.batch_size"),
    ("recommend", ["target={target}", "report.knn_k=0"], "report.knn_k"),
    ("recommend", ["target={target}", "features.cache_dir={file}/cache"], "features.cache_dir"),
    ("recommend", ["sources=[{source}]"], "target"),
    ("recommend", ["target=planets"], "Unknown dataset 'planets'"),
    ("recommend", ["target={root}/no_such_folder"], "no_such_folder"),
    ("recommend", ["target={one_class}"], "at least two classes"),
    ("recommend", ["target={presplit}"], "already split"),
    ("recommend", ["target={target}", "sources=[{target}/]"], "No candidate sources"),
    ("recommend", ["target={target}", "split.train=0.9"], "split"),
    ("recommend", ["target={target}", "features.max_images_per_class=0"], "features.max_images_per_class"),
    ("recommend", ["target={target}", "backbone.image_size=8"], "backbone.image_size"),
    ("recommend", ["target={target}", "seed=abc"], "seed"),
    ("retrieve", ["query={image}", "k=0"], "k=0"),
    ("retrieve", ["query={image}", "k=-1"], "k=-1"),
    ("retrieve", ["query={image}", "k=abc"], "k='abc'"),
    ("retrieve", [], "query"),
    ("retrieve", ["query={root}/missing.jpg"], "missing.jpg"),
    ("retrieve", ["query={text}"], "query.jpg"),
    ("retrieve", ["query={image}", "backbone.alpha=0.75", "backbone.weights_dir={empty_weights}"], "alpha=0.75"),
    ("retrieve", ["query={image}", "datasets=[nowhere]"], "Unknown dataset 'nowhere'"),
    ("retrieve", ["query={image}", "datasets=[{target}]", "embedding={head_64d}"], "not the backbone's pooled features"),
    ("retrieve", ["query={image}", "datasets=[{target}]", "embedding={head_1d}"], "at least two numbers"),
    ("recommend", ["target={target}", "backbone.weights=null"], "distance=gain"),
    ("train", ["target={target}", "finetune.strategy=foo"], "finetune.strategy"),
    ("train", ["target={target}", "finetune.top_blocks=0"], "finetune.top_blocks"),
    ("train", ["target={target}", "source={target}/"], "is the target itself"),
    ("train", ["target={small_class}", "source={source}"], "finetune.min_images_per_class"),
    ("train", ["target={target}", "finetune.seeds=[]"], "finetune.seeds"),
    ("active_learn", ["target={target}", "rare_class=purple"], "its classes are: blue, green, red"),
    ("active_learn", ["target={target}", "rare_class=red"], "needs at least"),
    ("active_learn", ["target={target}", "rare_class=red", "rare_fraction=0.7"], "rare_fraction"),
    ("active_learn", ["target={target}", "rare_class=red", "rare_fraction=0"], "rare_fraction"),
    ("active_learn", ["target={target}", "rare_class=red", "source={target}"], "is the target itself"),
    ("benchmark", ["benchmark.fewshot.k=[0]"], "benchmark.fewshot.k"),
    ("benchmark", ["benchmark.scores=[nope]"], "benchmark.scores"),
    ("benchmark", ["benchmark.headline.top_blocks=3"], "benchmark.headline.top_blocks"),
    # Values the check used to accept, or never checked, that crashed later with a traceback.
    ("recommend", ["target={target}", "seed=-1"], "seed=-1"),
    ("recommend", ["target=${{oc.env:RECOMMENDER_NO_SUCH_VARIABLE}}"], "target cannot be resolved"),
    ("recommend", ["target={target}", "distance=logme", "distance.top_blocks=99"], "distance.top_blocks"),
    ("recommend", ["target={target}", "features.runner=beam", "features.beam_options.direct_num_workers=-1"],
     "direct_num_workers"),
    ("recommend", ["target={target}", "features.runner=beam", "features.beam_options.runner=NopeRunner"],
     "NopeRunner"),
    ("train", ["target={target}", "finetune.augmentation.flip=nope"], "finetune.augmentation.flip"),
    ("fewshot", ["target={target}", "fewshot.max_queries_per_class=0"], "fewshot.max_queries_per_class"),
    ("fewshot", ["target={target}", "fewshot.max_queries_per_class=-1"], "fewshot.max_queries_per_class"),
    ("fewshot", ["target={target}", "k=1000"], "k=1000"),
    ("benchmark", ["benchmark.targets=[{target}]", "benchmark.sources=[{source},{small_class}]",
                   "benchmark.fewshot.k=[2,100]", "benchmark.headline.k=2"], "benchmark.fewshot.k"),
    # Every other numeric or choice option of every script: refused by name before any work.
    ("recommend", ["target={target}", "report.top_k=-1"], "report.top_k"),
    ("recommend", ["target={target}", "report.samples_per_class=0"], "report.samples_per_class"),
    ("recommend", ["target={target}", "report.neighbours=0"], "report.neighbours"),
    ("recommend", ["target={target}", "report.map_points_per_dataset=1"], "report.map_points_per_dataset"),
    ("recommend", ["target={target}", "report.top_flows=-1"], "report.top_flows"),
    ("recommend", ["target={target}", "report.explain=perhaps"], "report.explain"),
    ("recommend", ["target={target}", "features.progress=maybe"], "features.progress"),
    ("recommend", ["target={target}", "features.runner=spark"], "features.runner"),
    ("recommend", ["target={target}", "features.rows_per_class=100"], "features.rows_per_class"),
    ("recommend", ["target={target}", "domain.min_images_per_class=0"], "domain.min_images_per_class"),
    ("recommend", ["target={target}", "distance=otdd", "distance.samples=1"], "distance.samples"),
    ("recommend", ["target={target}", "distance=otdd", "distance.solver=magic"], "distance.solver"),
    ("recommend", ["target={target}", "distance=otdd", "distance.solver=sinkhorn", "distance.sinkhorn_reg=0"],
     "distance.sinkhorn_reg"),
    ("recommend", ["target={target}", "distance=gaussian_emd", "distance.covariance=full"], "distance.covariance"),
    ("recommend", ["target={target}", "distance=class_mean_emd", "distance.normalise=zscore"], "distance.normalise"),
    ("recommend", ["target={target}", "distance=class_mean_emd", "distance.whiten_dim=0"], "distance.whiten_dim"),
    ("recommend", ["target={target}", "distance.evidence={root}/missing.json"], "distance.evidence"),
    ("recommend", ["target={target}", "distance.evidence={file}"], "distance.evidence"),
    ("train", ["target={target}", "finetune.dropout=1"], "finetune.dropout"),
    ("train", ["target={target}", "finetune.epochs.head=0"], "finetune.epochs.head"),
    ("train", ["target={target}", "finetune.learning_rate.source_head=0"], "finetune.learning_rate.source_head"),
    ("validate", ["target={target}", "finetune.checkpoint_dir={file}/ck"], "finetune.checkpoint_dir"),
    ("validate", ["target={target}", "finetune.seeds=[-1]"], "finetune.seeds"),
    ("active_learn", ["target={target}", "rare_class=red", "strategy=psychic"], "strategy"),
    ("active_learn", ["target={target}", "rare_class=red", "n_seeds=1"], "n_seeds"),
    ("active_learn", ["target={target}", "rare_class=red", "batch=0"], "batch"),
    ("benchmark", ["benchmark.jobs=0"], "benchmark.jobs"),
    ("benchmark", ["benchmark.ground_truth=vibes"], "benchmark.ground_truth"),
    ("fewshot", ["target={target}", "fewshot.episodes=1"], "fewshot.episodes"),
    ("metric_learn", ["target={target}", "loss=hinge"], "loss"),
    ("metric_learn", ["target={target}", "metric.dim=0"], "metric.dim"),
    ("recommend", ["target={target}", "distance=prior_score", "distance.shortlist=0"], "distance.shortlist"),
    ("recommend", ["target={target}", "sources=[{source},{small_class}]"], "distance=prior_mix"),
    ("recommend", ["target={target}", "distance=prior_score", "distance.jobs=0"], "distance.jobs"),
    ("recommend", ["target={target}", "distance=prior_score", "distance.evidence={old_evidence}"],
     "no prior_score section"),
    ("build_source", ["target={target}", "pool=[{source}]", "pool_classes=1"], "pool_classes"),
    ("build_source", ["target={target}", "pool=[{source}]", "pool_classes=99"], "classes=99"),
    ("recommend", ["target={target}", "pool={source}"], "pool"),
    ("build_source", ["target={target}", "pool=[{source}]", "rule=nearest"], "rule"),
    ("build_source", ["target={target}", "pool=[]"], "pool"),
    ("build_source", ["target={target}", "pool=[{target}]"], "no pool dataset other than the target"),
    ("recommend", ["target={target}", "sources=[{edited_spec}]"], "identity does not match"),
    ("recommend", ["target={target}", "sources=[{not_a_spec}]"], "not a source spec"),
    # Evidence is data: a file that names code, or holds a number that is not one, is refused before any work.
    ("recommend", ["target={target}", "distance=prior_mix", "distance.evidence={crafted_evidence}"], "names code"),
    ("recommend", ["target={target}", "distance=prior_mix", "distance.evidence={nan_evidence}"], "gains.plants.flowers"),
    ("recommend", ["target={target}", "distance=prior_mix", "distance.evidence={list_evidence}"], "distance.evidence"),
    # Reliability round three: paths checked before any work, near misses named, the target's images kept out of
    # pretraining.
    ("recommend", ["target={target}", "distance=logme", "+finetune.checkpoint_dir={file}/ck"],
     "finetune.checkpoint_dir"),
    ("recommend", ["target=plantz"], "Did you mean 'plants'"),
    ("recommend", ["target={target}", "distance=prior_score", "+distance.score=leep"], "does not apply"),
    ("recommend", ["target={target}", "backbone.weights_dir={truncated_weights}"], "cannot be loaded"),
    ("train", ["target={target}", "source={target_copy}"], "byte for byte"),
    ("build_source", ["target={target}", "pool=[{target_copy}]"], "byte for byte"),
]


def _run_case(data, root, script, overrides):
    args = [o.format(**{k: str(v) for k, v in data.items()}) for o in overrides]
    if script in ("train", "benchmark", "active_learn"):
        args.append(f"finetune.checkpoint_dir={root / 'checkpoints'}")
    env = {**os.environ, "KERAS_HOME": str(root / "keras_home")}  # no weights from the user's Keras cache
    return subprocess.run([sys.executable, f"scripts/{script}.py", *_common(data, root), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def outcomes(data, tmp_path_factory):
    """Every case run once, two at a time (the cases are independent; each gets its own folders)."""
    from concurrent.futures import ThreadPoolExecutor

    roots = [tmp_path_factory.mktemp(f"case{i}") for i in range(len(CASES))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_run_case, data, root, script, overrides)
                   for root, (script, overrides, _) in zip(roots, CASES)]
        return [(f.result(), root) for f, root in zip(futures, roots)]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}:{' '.join(c[1]) or 'nothing'}" for c in CASES])
def test_bad_input_gives_one_clear_error_line(outcomes, case):
    script, _, names = CASES[case]
    done, root = outcomes[case]
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert "Traceback" not in output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert names in errors[0], errors[0]
    if script in ("train", "active_learn"):
        assert not list((root / "checkpoints").glob("stage1-*"))  # the error came before any training


def test_a_run_folder_inside_the_target_is_refused_before_hydra_makes_it(data, tmp_path):
    inside = data["target"] / "out"
    done = subprocess.run([sys.executable, "scripts/recommend.py", f"target={data['target']}",
                           f"hydra.run.dir={inside}", "distance=class_mean_emd"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "inside the dataset" in errors[0], done.stderr[-2000:]
    assert not inside.exists()


def test_crafted_evidence_runs_no_code(outcomes, data):
    assert any("crafted_evidence" in " ".join(c[1]) for c in CASES)
    assert not (data["root"] / "pwned").exists()  # subprocess.Popen(["touch", ...]) never ran


def test_a_tfds_dataset_not_prepared_fails_at_once_when_offline(data, tmp_path):
    """Offline, tfds.load retries its downloads for minutes and leaves a temporary file behind. A dataset that is
    not prepared locally is refused at once instead. The download host is pointed at the discard port on loopback
    (closed here), so the test's probe is refused without any traffic leaving the machine."""
    import time

    tfds_dir = tmp_path / "tfds"
    tfds_dir.mkdir()
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home"), "RECOMMENDER_TFDS_HOST": "127.0.0.1:9"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "scripts/recommend.py", *_common(data, tmp_path), f"target={data['target']}",
         "sources=[remote]", "+dataset@catalog.remote=tf_flowers", "catalog.remote.name=remote",
         "catalog.remote.tfds_name=cifar10", f"catalog.remote.data_dir={tfds_dir}", "distance=class_mean_emd"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    seconds = time.perf_counter() - started
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr[-2000:]
    assert len(errors) == 1 and "not prepared" in errors[0] and "tfds build cifar10" in errors[0], errors
    assert seconds < 60  # start-up included; tfds.load's retries took about 3.5 minutes
    assert not any(tfds_dir.rglob("*"))  # no temporary download left behind
