"""Ranking.to_records carries the table's columns and none that is empty for every source; Ranking.best is the
decided start; Ranking.write_report writes what the command writes."""
from dataclasses import replace

import numpy as np

from factories import domain, source_result
from recommender.ranking import Ranking


def gain_ranking(start_from_imagenet=False):
    sources = []
    for rank, (name, mean) in enumerate((("trash", 0.4), ("xray", -5.0)), start=1):
        s = replace(source_result(name, rank=rank), distance=None, similarity=None, score=mean, plan=None,
                    cost=None)
        s.parts = {"predicted_gain_points": mean, "low_points": mean - 2, "high_points": mean + 2, "interval": "90%",
                   "model": "catalog", "half_width": 2.0, "threshold_half_widths": 0.0, "logme": -0.3,
                   "prior_gain_points": None if name == "xray" else 0.2, "network": {"origin": "shipped"}}
        s.gain = {"mean": 0.2, "half": 0.5, "n": 9}
        sources.append(s)
    return Ranking(target=domain("plants"), sources=sources, distance_names=["plants", "trash", "xray"],
                   table=np.zeros((3, 3)), kind="gain", distance_name="gain", distance_label="the predicted gain",
                   evidence={"start_from_imagenet": start_from_imagenet, "decision": "imagenet" if
                             start_from_imagenet else "source", "headline": "Start from ..."})


def test_records_hold_the_tables_columns_and_no_empty_one():
    records = gain_ranking().to_records()
    first = records[0]
    assert {"predicted_gain_points", "low_points", "high_points", "logme", "gain_points"} <= set(first)
    assert "distance" not in first and "similarity" not in first  # empty under this ranking
    assert "network" not in first  # a nested value stays in ranking.json
    assert records[-1]["source"] == "imagenet" and records[-1]["predicted_gain_points"] == 0.0
    assert all(list(r) == list(first) for r in records)  # one set of columns: a CSV header fits every row


def test_best_is_the_decision():
    assert gain_ranking().best.name == "trash" and gain_ranking().first.name == "trash"
    assert gain_ranking(start_from_imagenet=True).best is None


def test_write_report_writes_the_commands_files(tmp_path):
    paths = gain_ranking().write_report(tmp_path)
    assert {"ranking.json", "ranking.csv", "report.md", "gains.png"} <= {p.name for p in paths.values()}
    assert all(p.is_file() for p in paths.values())
