"""Every ranker's answer for one target, as JSON, so two versions of the code can be compared value by value:

    python scripts/studies/rankings_snapshot.py <out.json> [target] [source ...]
    python scripts/studies/compare_numbers.py <before.json> <after.json>

For each of the shipped rankers (gain, prior_mix, prior_score, class_mean_emd, gaussian_emd): the order, each
source's score and distance, what the score is made of (the network's provenance left out: it names files), the
verdict's headline and sentences, the validated figures, the label, the notes and the dataset-to-dataset table.
Run it from a checkout of each version (PYTHONPATH=<that checkout>) with the same caches and datasets.
"""
from __future__ import annotations

import json
import sys

RANKERS = ("gain", "prior_mix", "prior_score", "class_mean_emd", "gaussian_emd")


def snapshot(target: str, sources: list[str] | None) -> dict:
    from finetune.transfer.model_distance import register
    from recommender import recommend

    register()  # a checkout that is not the installed one has no entry points of its own
    out = {}
    for name in RANKERS:
        ranking = recommend(target, sources or None, overrides=[f"distance={name}", "report.explain=false"])
        out[name] = {"order": [s.name for s in ranking.sources], "score": [s.score for s in ranking.sources],
                     "distance": [s.distance for s in ranking.sources], "headline": ranking.headline,
                     "sentences": ranking.evidence.get("sentences"), "validated": ranking.evidence.get("validated"),
                     "kind": ranking.kind, "label": ranking.distance_label, "notes": ranking.notes,
                     "parts": [{k: v for k, v in s.parts.items() if k != "network"} for s in ranking.sources],
                     "table": ranking.distances.tolist()}
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    found = snapshot(sys.argv[2] if len(sys.argv) > 2 else "plants", sys.argv[3:])
    with open(sys.argv[1], "w") as f:
        json.dump(found, f, indent=1, default=str)
