"""The validation report and the multirun summary, on a synthetic validation (no training needed)."""
import json

import numpy as np

from finetune.transfer.validation_report import write_validation
from finetune.evaluation import ranking_scores
from finetune.transfer.summary import collect, markdown_table
from finetune.transfer.validate import BASELINE, Validation
from factories import domain, source_result, transfer_result
from recommender.ranking import Ranking


def synthetic_validation(accuracies: dict[str, list[float]], similarity: dict[str, float]) -> Validation:
    target = domain("tgt", means=np.zeros((2, 3)))
    names = sorted(similarity, key=lambda n: -similarity[n])
    sources = [source_result(n, distance=-np.log(similarity[n]) / 0.01, similarity=similarity[n], rank=r)
               for r, n in enumerate(names, start=1)]
    ranking = Ranking(target, sources, ["tgt", *names], np.zeros((3, 3)))
    results = {n: [transfer_result(n, "tgt", s, a) for s, a in enumerate(accs)] for n, accs in accuracies.items()
               if n != BASELINE}
    baseline = [transfer_result(BASELINE, "tgt", s, a) for s, a in enumerate(accuracies[BASELINE])]
    scores = ranking_scores([similarity[n] for n in names], [accuracies[n] for n in names])
    config = {"finetune": {"strategy": "top_blocks", "top_blocks": 2, "seeds": [0, 1, 2]},
              "backbone": {"alpha": 0.5, "image_size": 160}}
    return Validation("tgt", ranking, results, baseline, scores, 12.0, config)


def test_report_files_and_a_plain_verdict_when_sources_do_not_differ(tmp_path):
    v = synthetic_validation({"s1": [0.80, 0.82, 0.78], "s2": [0.81, 0.79, 0.80], BASELINE: [0.7, 0.72, 0.71]},
                             {"s1": 0.9, "s2": 0.8})
    paths = write_validation(v, tmp_path)
    data = json.loads(paths["validation.json"].read_text())
    assert [r["source"] for r in data["rows"]] == ["s1", "s2", BASELINE]
    assert data["rows"][0]["accuracy_mean"] == np.mean([0.80, 0.82, 0.78])
    assert len(paths["validation.csv"].read_text().splitlines()) == 4
    assert "cannot discriminate sources under this protocol" in paths["report.md"].read_text()
    assert paths["similarity_vs_accuracy.png"].stat().st_size > 10_000


def test_summary_aggregates_every_target(tmp_path):
    for target, accs in (("t1", [[0.9, 0.91, 0.9], [0.7, 0.71, 0.7]]), ("t2", [[0.6, 0.62, 0.61], [0.8, 0.8, 0.81]])):
        v = synthetic_validation({"s1": accs[0], "s2": accs[1], BASELINE: [0.5, 0.5, 0.5]}, {"s1": 0.9, "s2": 0.8})
        v.target = target
        write_validation(v, tmp_path / target)
    rows = collect(tmp_path)
    assert [r["target"] for r in rows] == ["t1", "t2"]
    assert rows[0]["top1_regret"] == 0.0 and rows[1]["top1_regret"] > 19
    table = markdown_table(rows)
    assert table.count("\n") == 3 and "| t2 | 2 |" in table


def test_a_source_folder_called_imagenet_does_not_clash_with_the_baseline(tmp_path):
    v = synthetic_validation({"imagenet_photos/imagenet": [0.9, 0.9, 0.9], "s2": [0.8, 0.8, 0.8],
                              BASELINE: [0.5, 0.5, 0.5]}, {"imagenet_photos/imagenet": 0.9, "s2": 0.8})
    rows = v.rows()
    assert [r.get("baseline", False) for r in rows] == [False, False, True]
    assert rows[0]["accuracy_mean"] == 0.9 and rows[-1]["accuracy_mean"] == 0.5
