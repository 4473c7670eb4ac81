"""Does a source built from a pool beat random classes, the whole pool, the best catalog source and ImageNet?

    python scripts/studies/study_pool.py [measure|analyse|resolution|finetune|all] [out=docs/pool] [sizes=10,25,50] [...]

measure: for every catalog target, builds the pool's closest classes (recommender.pool, rule `emd`) at each size,
draws random classes of the same sizes (3 seeds, the same draws for every target), and measures them, the whole
pool and the target's best catalog source (docs/benchmark_intel's few-shot headline) through the benchmark's own
ground truth: `finetune.benchmark.measure_target` under the headline protocol (top 4 blocks, k = 20, 100
episodes), so every source of a target is scored on the same episodes as ImageNet. The specs go to
<out>/specs/, the per-episode accuracies to <out>/runs.json.
analyse: reads runs.json and the specs and writes <out>/pool.json, <out>/pool.md and <out>/pool_evidence.json.
finetune: the fine-tune ground truth (2 seeds) for ImageNet, the built source at the leave-one-target-out size
and a random draw of it, on flowers, trash and xray: <out>/finetune.json (reported by analyse when present).
resolution: each best catalog source that beat ImageNet, again at 64 x 64 px: <out>/resolution.json (likewise).
Maintainer tool; about 70 min cold on 2 cores.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
POOL = "tinyimagenet"
RANDOM_SEEDS = (0, 1, 2)
# The second rule tried (recommender.pool.relative_distances), at one size: added after the closest ten classes of
# the first rule showed the same hub classes (syringe, broom, nail, chain) for most targets.
SECOND_RULE = (("emd_relative", 25),)
log = logging.getLogger("study_pool")


def _args(argv):
    mode = argv[0] if argv and "=" not in argv[0] else "all"
    options = dict(a.split("=", 1) for a in argv if "=" in a)
    out = Path(options.pop("out", str(ROOT / "docs" / "pool")))
    sizes = [int(s) for s in options.pop("sizes", "10,25,50").split(",")]
    return mode, out, sizes, [f"{k}={v}" for k, v in options.items()]


def study_config(overrides):
    from recommender import load_config

    return load_config(["benchmark.top_blocks=[4]", "benchmark.fewshot.k=[20]", "benchmark.scores=[logme]",
                        "~benchmark.distances", "+benchmark.distances={class_mean_emd:{distance:class_mean_emd}}",
                        "features.progress=false", *overrides], config_name="benchmark")


def build_specs(cfg, targets, sizes, out: Path) -> dict[str, list[tuple[str, str]]]:
    """target -> [(role, spec path)]; role is `emd<n>`, `random<n>-seed<s>`."""
    from recommender.data.subset import write_spec
    from recommender.pool import build_source

    specs = out / "specs"
    plan = {}
    randoms = []
    for n in sizes:
        for seed in RANDOM_SEEDS:
            spec = build_source(cfg, targets[0], [POOL], n, rule="random", seed=seed, name=f"{POOL}-random{n}-seed{seed}")
            spec["about"].pop("target"), spec["about"].pop("target_fingerprint")  # the same draw for every target
            randoms.append((f"random{n}-seed{seed}", str(write_spec(spec, specs / f"{spec['name']}.json"))))
    for t in targets:
        plan[t] = [(f"emd{n}", str(write_spec(spec, specs / f"{spec['name']}.json")))
                   for n in sizes for spec in [build_source(cfg, t, [POOL], n, rule="emd")]] + randoms
        plan[t] += [(f"{rule}{n}", str(write_spec(spec, specs / f"{spec['name']}.json")))
                    for rule, n in SECOND_RULE for spec in [build_source(cfg, t, [POOL], n, rule=rule)]]
    return plan


def measure(cfg, sizes, out: Path) -> None:
    from recommender import open_dataset
    from recommender.data.datasets import catalog_sources
    from finetune.parallel import in_parallel, worker_pool
    from finetune.benchmark.ground_truth import Protocol
    from finetune.benchmark.measure import measure_target, protocol_config
    from finetune.transfer.stages import train_source
    from recommender.common.logs import Steps

    start = time.perf_counter()
    targets = catalog_sources(cfg.catalog)
    best = {t: v["best_source"] for t, v in
            json.loads((ROOT / "docs" / "benchmark_intel" / "benchmark.json").read_text())["targets"].items()}
    plan = build_specs(cfg, targets, sizes, out)
    sources = {t: [*plan[t], ("pool", POOL), ("best_catalog", best[t])] for t in targets}
    needed = list(dict.fromkeys(ref for t in targets for _, ref in sources[t]))
    opened = {ref: open_dataset(ref, cfg) for ref in needed}
    needed.sort(key=lambda ref: -len(opened[ref].labels))  # largest first: the last to finish is a short one
    cfg4 = protocol_config(cfg, 4)
    seed = int(cfg.benchmark.stage1_seed)
    from finetune.transfer.stages import checkpoint_path, transfer_config

    cached = sum(checkpoint_path(opened[ref], transfer_config(cfg4), seed).is_file() for ref in needed)
    t0 = time.perf_counter()
    with worker_pool(int(cfg.benchmark.jobs)) as pool:
        paths = in_parallel(pool, train_source, [(ref, cfg4, seed) for ref in needed],
                             Steps("stage-1 networks", len(needed), log), needed)
    train_seconds = time.perf_counter() - t0
    checkpoints = {(4, opened[ref].fingerprint): path for ref, path in zip(needed, paths)}
    runs = {}
    for t in targets:
        run = measure_target(t, [ref for _, ref in sources[t]], cfg, checkpoints)
        runs[t] = {"roles": [role for role, _ in sources[t]], "refs": [ref for _, ref in sources[t]],
                   "sources": run.sources, "accuracy": run.accuracy[Protocol(4, 20)].rows().tolist(),
                   "logme": run.scores[4]["logme"].tolist(), "n_pool": run.n_pool, "n_test": run.n_test}
        log.info("measured %s", t)
    payload = {"protocol": "top4/k20", "episodes": int(cfg.benchmark.fewshot.episodes), "sizes": sizes,
               "random_seeds": list(RANDOM_SEEDS), "pool": POOL, "networks": len(needed), "networks_cached": cached,
               "train_seconds": train_seconds, "seconds": time.perf_counter() - start,
               "source_images": {ref: int(len(opened[ref].labels)) for ref in needed}, "runs": runs}
    (out / "runs.json").write_text(json.dumps(payload, indent=1))


# ----------------------------------------------------------------------------------------------- analysis


def _interval(values) -> dict:
    """Mean and 95% Student-t interval, in points."""
    from finetune.evaluation import mean_ci

    v = 100 * np.asarray(values, float)
    mean, half = mean_ci(v)
    return {"mean": round(float(mean), 3), "ci95": [round(float(mean - half), 3), round(float(mean + half), 3)]}


def _paired(a, b) -> dict:
    """a - b over the same episodes: mean, 95% t interval (points), Wilcoxon signed-rank p (two-sided)."""
    from scipy import stats

    diff = np.asarray(a, float) - np.asarray(b, float)
    out = _interval(diff)
    out["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    return out


def analyse(out: Path) -> dict:
    from scipy import stats

    data = json.loads((out / "runs.json").read_text())
    sizes, seeds = data["sizes"], data["random_seeds"]
    targets = list(data["runs"])
    result = {"protocol": data["protocol"], "episodes": data["episodes"], "sizes": sizes, "random_seeds": seeds,
              "pool": data["pool"], "networks": data["networks"], "seconds": round(data["seconds"]),
              # runs.json of session 11 predates the field: 13 networks came from its interrupted first run
              "networks_cached": data.get("networks_cached", 13),
              "tests": {"episodes": "Wilcoxon signed-rank over the 100 paired episodes (two-sided)",
                        "targets": "Wilcoxon signed-rank over the 10 targets' mean differences (two-sided)"},
              "targets": {}, "summary": {}}
    for t in targets:
        run = data["runs"][t]
        acc = np.asarray(run["accuracy"], float)
        row = {role: acc[1 + i] for i, role in enumerate(run["roles"])}
        imagenet = acc[0]
        entry = {"best_catalog_source": run["refs"][run["roles"].index("best_catalog")],
                 "imagenet_accuracy": _interval(imagenet)["mean"], "gain_over_imagenet": {}, "sizes": {}}
        for role in ("pool", "best_catalog"):
            entry["gain_over_imagenet"][role] = _interval(row[role] - imagenet)
        for n in sizes:
            chosen = row[f"emd{n}"]
            draws = np.array([row[f"random{n}-seed{s}"] for s in seeds])
            random_mean = draws.mean(axis=0)
            draw_gains = 100 * (draws.mean(axis=1) - imagenet.mean())
            entry["sizes"][str(n)] = {
                "chosen_gain": _interval(chosen - imagenet),
                "random_gain": _interval(random_mean - imagenet),
                "random_draw_gains": [round(float(g), 3) for g in draw_gains],
                "chosen_minus_random": _paired(chosen, random_mean),
                # How far the chosen network is from the random draws in units of the draws' own spread: the
                # network-to-network noise that the episode test cannot see.
                "draw_spread_sd": round(float(np.std(draw_gains, ddof=1)), 3),
                "chosen_minus_pool": _paired(chosen, row["pool"]),
                "chosen_minus_best_catalog": _paired(chosen, row["best_catalog"]),
            }
        entry["rules"] = {}
        for rule, n in SECOND_RULE:
            if f"{rule}{n}" not in row:
                continue
            other = row[f"{rule}{n}"]
            draws = np.array([row[f"random{n}-seed{s}"] for s in seeds]).mean(axis=0)
            entry["rules"][f"{rule}{n}"] = {"gain": _interval(other - imagenet),
                                            "minus_random": _paired(other, draws),
                                            "minus_emd": _paired(other, row[f"emd{n}"])}
        result["targets"][t] = entry
    for n in sizes:
        key = str(n)
        per = [result["targets"][t]["sizes"][key] for t in targets]
        diffs = np.array([p["chosen_minus_random"]["mean"] for p in per])
        gains = np.array([p["chosen_gain"]["mean"] for p in per])
        result["summary"][key] = {
            "beats_random": sum(p["chosen_minus_random"]["mean"] > 0 and p["chosen_minus_random"]["wilcoxon_p"] < 0.05
                                for p in per),
            "loses_to_random": sum(p["chosen_minus_random"]["mean"] < 0 and p["chosen_minus_random"]["wilcoxon_p"] < 0.05
                                   for p in per),
            "beats_imagenet": sum(p["chosen_gain"]["ci95"][0] > 0 for p in per),
            "below_imagenet": sum(p["chosen_gain"]["ci95"][1] < 0 for p in per),
            "beyond_draw_spread": sum(abs(p["chosen_minus_random"]["mean"]) > 2 * p["draw_spread_sd"] for p in per),
            "mean_chosen_minus_random": round(float(diffs.mean()), 3),
            "targets_test_p": float(stats.wilcoxon(diffs).pvalue) if np.any(diffs != 0) else 1.0,
            "mean_chosen_gain": round(float(gains.mean()), 3),
            "mean_random_gain": round(float(np.mean([p["random_gain"]["mean"] for p in per])), 3),
        }
    result["rules"] = {}
    for rule, n in SECOND_RULE:
        key = f"{rule}{n}"
        per = [result["targets"][t]["rules"].get(key) for t in targets]
        if any(p is None for p in per):
            continue
        vs_emd = np.array([p["minus_emd"]["mean"] for p in per])
        vs_random = np.array([p["minus_random"]["mean"] for p in per])
        # The rule for the held-out target: the one with the better mean gain on the other nine (2 candidates).
        picks = {}
        for t in targets:
            others = [u for u in targets if u != t]
            mine = np.mean([result["targets"][u]["rules"][key]["gain"]["mean"] for u in others])
            plain = np.mean([result["targets"][u]["sizes"][str(n)]["chosen_gain"]["mean"] for u in others])
            picks[t] = rule if mine > plain else "emd"
        result["rules"][key] = {
            "beats_random": sum(p["minus_random"]["mean"] > 0 and p["minus_random"]["wilcoxon_p"] < 0.05 for p in per),
            "loses_to_random": sum(p["minus_random"]["mean"] < 0 and p["minus_random"]["wilcoxon_p"] < 0.05
                                   for p in per),
            "beats_emd": sum(p["minus_emd"]["mean"] > 0 and p["minus_emd"]["wilcoxon_p"] < 0.05 for p in per),
            "loses_to_emd": sum(p["minus_emd"]["mean"] < 0 and p["minus_emd"]["wilcoxon_p"] < 0.05 for p in per),
            "beats_imagenet": sum(p["gain"]["ci95"][0] > 0 for p in per),
            "below_imagenet": sum(p["gain"]["ci95"][1] < 0 for p in per),
            "mean_gain": round(float(np.mean([p["gain"]["mean"] for p in per])), 3),
            "mean_minus_emd": round(float(vs_emd.mean()), 3),
            "minus_emd_targets_p": float(stats.wilcoxon(vs_emd).pvalue) if np.any(vs_emd != 0) else 1.0,
            "mean_minus_random": round(float(vs_random.mean()), 3),
            "minus_random_targets_p": float(stats.wilcoxon(vs_random).pvalue) if np.any(vs_random != 0) else 1.0,
            "loto_rule": picks}
    # The default size, leave-one-target-out: the size with the best mean gain on the other nine targets.
    loto = {}
    for t in targets:
        others = [u for u in targets if u != t]
        pick = max(sizes, key=lambda n: (np.mean([result["targets"][u]["sizes"][str(n)]["chosen_gain"]["mean"]
                                                  for u in others]), -n))
        loto[t] = {"size": pick, "held_out_gain": result["targets"][t]["sizes"][str(pick)]["chosen_gain"]["mean"]}
    result["loto_size"] = {"per_target": loto, "candidates": sizes,
                           "mean_held_out_gain": round(float(np.mean([v["held_out_gain"] for v in loto.values()])), 3),
                           "chosen_everywhere": sorted({v["size"] for v in loto.values()}),
                           "most_picked": max(sizes, key=lambda n: (sum(v["size"] == n for v in loto.values()), -n))}
    result["classes"] = _class_lists(out, targets, sizes)
    if (out / "resolution.json").is_file():
        result["resolution"] = json.loads((out / "resolution.json").read_text())["pairs"]
    if (out / "finetune.json").is_file():
        result["finetune"] = _finetune_summary(json.loads((out / "finetune.json").read_text()))
    _write_pool_evidence(out, data, targets, sizes)
    (out / "pool.json").write_text(json.dumps(result, indent=1))
    (out / "pool.md").write_text(markdown(result, targets, sizes))
    return result


def _finetune_summary(data: dict) -> dict:
    """Per target: each network's accuracy per seed, and the built source minus ImageNet and minus the random
    draw per seed (points). Two seeds give no usable interval; the values are shown as they are."""
    out = {"size": data["size"], "protocol": data["protocol"], "targets": {}}
    for t, d in data["targets"].items():
        acc = 100 * np.asarray(d["accuracy"], float)
        out["targets"][t] = {"seeds": d["seeds"], "accuracy": {s: [round(float(a), 2) for a in row]
                                                               for s, row in zip(d["sources"], acc)},
                             "built_minus_imagenet": [round(float(x), 2) for x in acc[1] - acc[0]],
                             "built_minus_random": [round(float(x), 2) for x in acc[1] - acc[2]],
                             "minutes": round(d["seconds"] / 60, 1)}
    return out


def _spec_path(out: Path, ref: str) -> Path:
    """A spec named in runs.json, found in <out>/specs/ wherever the run that measured it kept the checkout."""
    return out / "specs" / Path(ref).name


def _write_pool_evidence(out: Path, data: dict, targets, sizes) -> None:
    """pool_evidence.json: each catalog target's measured gain (a fraction, as the benchmark's evidence) of the
    source built for it at each size, under the build's evidence name; `recommend pool=[...]` reads it."""
    from recommender.pool import evidence_name

    gains, built = {}, {}
    for t in targets:
        run = data["runs"][t]
        acc = np.asarray(run["accuracy"], float)
        gains[t] = {}
        for i, role in enumerate(run["roles"]):
            if not role.startswith("emd"):  # the built sources (every rule and size), not the controls
                continue
            spec = json.loads(_spec_path(out, run["refs"][i]).read_text())
            name = evidence_name(spec)
            gains[t][name] = float(np.mean(acc[1 + i] - acc[0]))
            built[name] = {"pool": data["pool"], "rule": spec["about"]["rule"], "classes": len(spec["chosen"])}
    (out / "pool_evidence.json").write_text(json.dumps(
        {"format": 1, "protocol": data["protocol"], "made_by": "scripts/studies/study_pool.py", "gains": gains,
         "built": built}, indent=1))


def _class_lists(out: Path, targets, sizes) -> dict:
    """Each target's closest pool classes (the largest size's spec), and the classes that most targets share."""
    lists, counts = {}, {}
    for t in targets:
        spec = json.loads(next((out / "specs").glob(f"{POOL}-emd{max(sizes)}-{t}.json")).read_text())
        lists[t] = [c["class"] for c in spec["chosen"]]
        for c in lists[t][: min(sizes)]:
            counts[c] = counts.get(c, 0) + 1
    shared = sorted(((n, c) for c, n in counts.items() if n >= 3), reverse=True)
    return {"closest": {t: v[:10] for t, v in lists.items()},
            "in_top_min_size_of_3_or_more_targets": [[c, n] for n, c in shared]}


def _cell(x: dict, p: bool = False) -> str:
    lo, hi = x["ci95"]
    text = f"{x['mean']:+.1f} [{lo:+.1f}, {hi:+.1f}]"
    return text + (f" p={x['wilcoxon_p']:.2g}" if p else "")


def markdown(r: dict, targets, sizes) -> str:
    lines = [f"# A source built from a pool ({r['pool']}): does choosing by similarity help?", "",
             f"Protocol {r['protocol']} (the benchmark's headline: stage-1 network with its top 4 blocks trained on the "
             f"source, {r['episodes']} paired 20-shot episodes on the target). Gains in accuracy points over the "
             "ImageNet network, 95% t-intervals over episodes; `chosen` = the pool classes closest to the target "
             "(recommender/pool.py, Cui et al. 2018 section 4.2), `random` = the mean of "
             f"{len(r['random_seeds'])} seeded draws of the same size (the same draws for every target). "
             f"{r['networks']} networks; the run that wrote runs.json took {r['seconds'] / 60:.0f} min on 2 cores, "
             f"with {r.get('networks_cached', 0)} networks already trained by an interrupted first run and other "
             "jobs sharing the cores at times (so not a clean timing). Tests: "
             f"{r['tests']['episodes']}; across targets, {r['tests']['targets']}.", "",
             "Reproduce: `python scripts/studies/study_pool.py` (measure, then analyse).", "", "## Summary", "",
             "| classes | chosen beats random (p<0.05) | chosen loses to random | beyond 2 sd of the random draws "
             "| chosen beats ImageNet (CI > 0) | below ImageNet (CI < 0) | mean chosen − random | p over targets "
             "| mean gain chosen | mean gain random |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        s = r["summary"][str(n)]
        lines.append(f"| {n} | {s['beats_random']}/10 | {s['loses_to_random']}/10 | {s['beyond_draw_spread']}/10 | "
                     f"{s['beats_imagenet']}/10 | {s['below_imagenet']}/10 | {s['mean_chosen_minus_random']:+.2f} | "
                     f"{s['targets_test_p']:.2g} | {s['mean_chosen_gain']:+.2f} | {s['mean_random_gain']:+.2f} |")
    loto = r["loto_size"]
    for key, q in r.get("rules", {}).items():
        lines += ["", f"**Second rule, {key}** (recommender.pool.relative_distances; one size, tried after seeing the "
                  f"first rule's hub classes): beats random {q['beats_random']}/10, loses {q['loses_to_random']}/10; "
                  f"beats the first rule {q['beats_emd']}/10, loses {q['loses_to_emd']}/10 (episodes); mean minus the "
                  f"first rule {q['mean_minus_emd']:+.2f} points (p over targets {q['minus_emd_targets_p']:.2g}), "
                  f"minus random {q['mean_minus_random']:+.2f} (p {q['minus_random_targets_p']:.2g}); above ImageNet "
                  f"{q['beats_imagenet']}/10, below {q['below_imagenet']}/10; mean gain {q['mean_gain']:+.2f}. "
                  "Leave-one-target-out choice between the two rules: "
                  + ", ".join(f"{t} {v}" for t, v in q["loto_rule"].items()) + "."]
    lines += ["", f"Default size, leave-one-target-out over {loto['candidates']} ({len(loto['candidates'])} candidates): "
              f"picked {loto['chosen_everywhere']}; mean held-out gain over ImageNet {loto['mean_held_out_gain']:+.2f} "
              "points.", "", "## Per target", ""]
    rule_keys = list(r.get("rules", {}))
    head = "| target | ImageNet acc | whole pool | best catalog source |" + "".join(
        f" chosen {n} | random {n} | chosen − random {n} |" for n in sizes)
    head += "".join(f" {k} | {k} − {k.rstrip('0123456789').replace('emd_relative', 'emd')}{''.join(c for c in k if c.isdigit())} |"
                    for k in rule_keys)
    lines += [head, "|" + "---|" * (4 + 3 * len(sizes) + 2 * len(rule_keys))]
    for t in targets:
        e = r["targets"][t]
        cells = [t, f"{e['imagenet_accuracy']:.1f}", _cell(e["gain_over_imagenet"]["pool"]),
                 f"{e['best_catalog_source']}: {_cell(e['gain_over_imagenet']['best_catalog'])}"]
        for n in sizes:
            z = e["sizes"][str(n)]
            cells += [_cell(z["chosen_gain"]), _cell(z["random_gain"]), _cell(z["chosen_minus_random"], True)]
        for k in rule_keys:
            z = e["rules"][k]
            cells += [_cell(z["gain"]), _cell(z["minus_emd"], True)]
        lines.append("| " + " | ".join(cells) + " |")
    if "resolution" in r:
        lines += ["", "## Is 64 px the reason?", "",
                  "Each target's best catalog source that beat ImageNet here, again with every image at Tiny ImageNet's "
                  "64 × 64 (`python scripts/studies/study_pool.py resolution`), on the same episodes:", "",
                  "| target | source | gain, full size | gain, 64 px | 64 px − full size |", "|---|---|---|---|---|"]
        for t, q in r["resolution"].items():
            lines.append(f"| {t} | {q['source']} | {_cell(q['gain_full'])} | {_cell(q['gain_64px'])} | "
                         f"{_cell(q['64px_minus_full'], True)} |")
    if "finetune" in r:
        f = r["finetune"]
        lines += ["", f"## Fine-tune ground truth ({f['protocol']}, {f['size']} classes)", "",
                  "Stage-2 fine-tuning of the top 4 blocks on the target from each network, test accuracy per seed "
                  "(points); targets fixed in advance (docs/ruler.md's three). Two seeds give no usable interval: "
                  "read the per-seed differences against the 3–4 point seed-to-seed spread docs/ruler.md found.", "",
                  "| target | ImageNet | built | random draw | built − ImageNet | built − random | minutes |",
                  "|---|---|---|---|---|---|---|"]
        for t, d in f["targets"].items():
            a = list(d["accuracy"].values())
            lines.append(f"| {t} | {a[0]} | {a[1]} | {a[2]} | {d['built_minus_imagenet']} | {d['built_minus_random']} "
                         f"| {d['minutes']} |")
    lines += ["", "## The chosen classes", "", "Closest ten per target:", ""]
    for t, classes in r["classes"]["closest"].items():
        lines.append(f"- **{t}**: {', '.join(classes)}")
    shared = r["classes"]["in_top_min_size_of_3_or_more_targets"]
    lines += ["", f"Classes among the closest {min(sizes)} of three or more targets (hubs): "
              + (", ".join(f"{c} ({n})" for c, n in shared) or "none"), ""]
    return "\n".join(lines)


FINETUNE_TARGETS = ("flowers", "trash", "xray")  # docs/ruler.md's three, fixed before any pool result was seen
FINETUNE_SEEDS = (0, 1)


def finetune_check(cfg, out: Path, size: int) -> None:
    """The slower ground truth on three targets: stage-2 fine-tuning (top 4 blocks, 2 seeds) from ImageNet, from
    the source built for the target at `size` classes, and from the first random draw of that size. The stage-1
    networks are the measured ones (same protocol and seed: read from the checkpoint cache)."""
    from omegaconf import OmegaConf

    from recommender import open_dataset
    from finetune.benchmark.ground_truth import Protocol
    from finetune.benchmark.measure import measure_target, protocol_config
    from finetune.transfer.stages import train_source

    cfg = OmegaConf.merge(cfg, {"benchmark": {"ground_truth": "finetune"},
                                "finetune": {"seeds": list(FINETUNE_SEEDS)}})
    cfg4 = protocol_config(cfg, 4)
    seed = int(cfg.benchmark.stage1_seed)
    found = {}
    for t in FINETUNE_TARGETS:
        refs = [str(out / "specs" / f"{POOL}-emd{size}-{t}.json"), str(out / "specs" / f"{POOL}-random{size}-seed0.json")]
        checkpoints = {(4, open_dataset(r, cfg).fingerprint): train_source(r, cfg4, seed) for r in refs}
        start = time.perf_counter()
        run = measure_target(t, refs, cfg, checkpoints)
        found[t] = {"sources": ["imagenet", f"emd{size}", f"random{size}-seed0"], "seeds": list(FINETUNE_SEEDS),
                    "accuracy": run.accuracy[Protocol(4)].rows().tolist(), "seconds": time.perf_counter() - start}
        log.info("fine-tuned %s", t)
    (out / "finetune.json").write_text(json.dumps({"protocol": "top4/finetune", "size": size, "targets": found},
                                                  indent=1))


def downsampled(cfg, ref: str, size: int = 64) -> Path:
    """A copy of a catalog folder dataset with every image resized to size x size (LANCZOS, squashed): Tiny
    ImageNet's resolution. Kept in <cache_dir>/lowres/<name><size>/; the same bytes every time."""
    from PIL import Image

    from recommender import open_dataset

    images = open_dataset(ref, cfg)
    out = Path(cfg.features.cache_dir).expanduser() / "lowres" / f"{images.name}{size}"
    for path, label in zip(images.refs, images.labels):
        dest = out / images.class_names[label] / (Path(path).stem + ".png")
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as im:
                im.convert("RGB").resize((size, size), Image.LANCZOS).save(dest)
    return out


def resolution_check(cfg, out: Path) -> None:
    """Is 64 px the reason? For every target whose best catalog source beat ImageNet (interval above 0 in this
    study), that source again at Tiny ImageNet's 64 x 64, measured on the same episodes as the full-size one."""
    from recommender import open_dataset
    from finetune.benchmark.ground_truth import Protocol
    from finetune.benchmark.measure import measure_target, protocol_config
    from finetune.transfer.stages import train_source

    result = json.loads((out / "pool.json").read_text())
    pairs = [(t, e["best_catalog_source"]) for t, e in result["targets"].items()
             if e["gain_over_imagenet"]["best_catalog"]["ci95"][0] > 0]
    cfg4 = protocol_config(cfg, 4)
    found = {}
    for target, source in pairs:
        refs = [source, str(downsampled(cfg, source).resolve())]
        checkpoints = {(4, open_dataset(r, cfg).fingerprint): train_source(r, cfg4, int(cfg.benchmark.stage1_seed))
                       for r in refs}
        acc = 100 * measure_target(target, refs, cfg, checkpoints).accuracy[Protocol(4, 20)].rows()
        found[target] = {"source": source, "gain_full": _interval(acc[1] / 100 - acc[0] / 100),
                         "gain_64px": _interval(acc[2] / 100 - acc[0] / 100),
                         "64px_minus_full": _paired(acc[2] / 100, acc[1] / 100)}
        log.info("resolution check %s <- %s: %s", target, source, found[target])
    (out / "resolution.json").write_text(json.dumps({"protocol": "top4/k20", "size": 64, "pairs": found}, indent=1))


def main(argv) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    mode, out, sizes, overrides = _args(argv)
    out.mkdir(parents=True, exist_ok=True)
    if mode in ("measure", "all"):
        measure(study_config(overrides), sizes, out)
    if mode in ("analyse", "all"):
        analyse(out)
    if mode in ("resolution", "all"):
        resolution_check(study_config(overrides), out)
    if mode in ("finetune", "all"):
        size = json.loads((out / "pool.json").read_text())["loto_size"]["most_picked"]
        finetune_check(study_config(overrides), out, size)


if __name__ == "__main__":
    main(sys.argv[1:])
