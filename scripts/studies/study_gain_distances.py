"""Do distances help the gain model? Every model-free distance of the benchmark offered to its nested
leave-one-target-out, one distance at a time.

    python scripts/studies/study_gain_distances.py [docs/benchmark/benchmark.json [docs/gain]]

For each model-free distance d the benchmark scored (class_mean_emd, gaussian_emd_*, otdd, ...), the inner loop of
`recommender.rankers.gain.nested_loto` chooses among the shipped candidate feature sets plus two more,
(fewshot_probe, d) and (fewshot_probe, d, prior): the distance between the target's and the source's images
(raw, as the benchmark measured it; its sign and scale are the fitted coefficient's). Nothing else changes: the
same targets, the same rule, the same interval. The table reports, for every distance (none picked), the nested
figures and how many of the ten outer folds chose a set with the distance; the first row is the shipped candidate
list alone. Writes <out>/distances.md and <out>/distances.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_gain import COVERAGE, SCORES, imagenet_reference, measured, summarise  # noqa: E402

from finetune.benchmark.mix import DEFAULT, MIX, PRIOR as PRIOR_ROW, SHIPPED_GAIN, SHIPPED_PRIOR_SCORE  # noqa: E402
from finetune.benchmark.results import NAIVE  # noqa: E402
from finetune.transferability import REGISTRY  # noqa: E402
from recommender.rankers.gain import CANDIDATES, PRIOR, Catalog, nested_loto  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DERIVED = {PRIOR_ROW, MIX, DEFAULT, SHIPPED_PRIOR_SCORE, SHIPPED_GAIN}
FIGURES = ("mean_decision_regret", "decision_regret_ci95_half", "coverage", "mean_weighted_tau", "mean_abs_error",
           "go_recall", "go_precision")


def distances_of(benchmark: dict) -> list[str]:
    first = next(iter(benchmark["targets"].values()))["scores"]
    return [n for n in first if n not in REGISTRY and n not in NAIVE and n not in DERIVED]


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else ROOT / "docs" / "benchmark" / "benchmark.json"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "gain"
    benchmark = json.loads(source.read_text())
    gains, halves, scores, head = measured(source)
    reference = imagenet_reference(list(gains))
    distances = distances_of(benchmark)
    relative = {t: {s: {**{n: v[n] - reference[t][n] for n in SCORES},
                        **{d: float(benchmark["targets"][t]["scores"][d][s]) for d in distances}}
                    for s, v in per.items()} for t, per in scores.items()}
    catalog = Catalog(gains, relative, halves)
    rows = {}
    for d in [None, *distances]:
        candidates = CANDIDATES if d is None else (*CANDIDATES, ("fewshot_probe", d), ("fewshot_probe", d, PRIOR))
        result = nested_loto(catalog, COVERAGE, candidates)
        summary = summarise(result, catalog, halves)
        rows[d or "(shipped candidates)"] = {
            **{k: summary["catalog"][k] for k in FIGURES},
            "user": {k: summary["user"][k] for k in ("mean_decision_regret", "coverage", "mean_weighted_tau")},
            "folds_choosing_it": sum(d in result[t]["features"] for t in result) if d else None}
        print(f"{d}: regret {summary['catalog']['mean_decision_regret']:.2f}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / "distances.json").write_text(json.dumps({"source": str(source), "protocol": head, "rows": rows},
                                                   indent=1))
    lines = [
        "# Do distances help the gain model?", "",
        f"`python scripts/studies/study_gain_distances.py` on `{source.relative_to(ROOT) if ROOT in source.parents else source}` "
        f"(headline protocol {head}). Each of the benchmark's {len(distances)} model-free distances was offered to "
        "the nested leave-one-target-out as two more candidate feature sets, (fewshot_probe, d) and "
        "(fewshot_probe, d, prior), beside the shipped six; the inner loop (on the nine other targets) chose by mean "
        "absolute error as it does for the shipped model. Every distance is shown: none is picked from this table. "
        "Regret and errors in accuracy points; regret's ± is the 95% t half-width over the ten targets.", "",
        "| candidates | decision regret | coverage | weighted τ | mean abs. error | go recall | go precision "
        "| folds choosing d | user path: regret, coverage, τ |",
        "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        u = r["user"]
        lines.append(f"| {name if name.startswith('(') else '+ ' + name} | {r['mean_decision_regret']:.2f} ± "
                     f"{r['decision_regret_ci95_half']:.2f} | {r['coverage']:.0%} | {r['mean_weighted_tau']:.2f} | "
                     f"{r['mean_abs_error']:.2f} | {r['go_recall']:.2f} | {r['go_precision']:.2f} | "
                     f"{'' if r['folds_choosing_it'] is None else r['folds_choosing_it']} | "
                     f"{u['mean_decision_regret']:.2f}, {u['coverage']:.0%}, {u['mean_weighted_tau']:.2f} |")
    (out / "distances.md").write_text("\n".join(lines) + "\n")
    print((out / "distances.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
