"""Aggregate the per-target validation results of a multirun into one table."""
from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ("target", "sources", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p", "weighted_tau",
           "top1_regret", "anova_p", "discriminates")


def collect(root: str | Path) -> list[dict]:
    """One row per validation.json below `root`: the target and its ranking scores."""
    rows = []
    for path in sorted(Path(root).rglob("validation.json")):
        data = json.loads(path.read_text())
        rows.append({"target": data["target"], "sources": len(data["rows"]) - 1, **data["scores"],
                     "path": str(path)})
    if not rows:
        raise FileNotFoundError(f"no validation.json under {root}; run scripts/validate.py first.")
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The collected rows as a Markdown table."""
    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)
