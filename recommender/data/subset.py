"""The source spec: a dataset made of chosen classes of one or more pool datasets (the dataset kind `subset`).

`recommender.pool` writes one (the classes closest to a target); `recommender.data.datasets` reads it wherever a
dataset is named. Its identity is the pool's content and the kept classes, not its name or its scores.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from recommender.common.errors import DatasetError

SPEC_FORMAT = 1

def spec_identity(members: list[dict]) -> str:
    """What a built source *is*: each pool dataset's content fingerprint and the classes kept from it (in order).
    The name, the scores and the target it was built for do not change what it trains on."""
    payload = [{"fingerprint": m["fingerprint"], "classes": list(m["classes"])} for m in members]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]

def make_spec(name: str, members: list[dict], chosen: list[dict], about: dict) -> dict:
    """A source spec: `members` = [{dataset, fingerprint, classes}] (what it trains on), `chosen` = one row per
    kept class, closest first ({dataset, class, distance, similarity}), `about` = how it was built."""
    if not any(m["classes"] for m in members):
        raise DatasetError(f"source {name!r}: no class kept from the pool.")
    return {"format": SPEC_FORMAT, "kind": "subset", "name": str(name), "identity": spec_identity(members),
            "members": members, "chosen": chosen, "about": about}

def write_spec(spec: dict, path: str | Path) -> Path:
    """Write a source spec to `path` atomically; returns the path."""
    from recommender.common.cache import write_json

    path = Path(path)
    write_json(path, spec)
    return path

def read_spec(path: str | Path) -> dict:
    """The spec at `path`, checked: one `error:` line naming the file when it is not one."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"Source spec {path}: cannot be read as JSON ({err}); build it again with "
                           "scripts/build_source.py.") from None
    if not isinstance(spec, dict) or spec.get("kind") != "subset" or spec.get("format") != SPEC_FORMAT:
        raise DatasetError(f"Source spec {path}: not a source spec of format {SPEC_FORMAT} (a JSON file written by "
                           "scripts/build_source.py); build it again.")
    members = spec.get("members")
    if not isinstance(members, list) or not members or not all(
            isinstance(m, dict) and isinstance(m.get("dataset"), str) and isinstance(m.get("classes"), list)
            and isinstance(m.get("fingerprint"), str) for m in members):
        raise DatasetError(f"Source spec {path}: `members` must list {{dataset, fingerprint, classes}}; build it "
                           "again with scripts/build_source.py.")
    if spec.get("identity") != spec_identity(members):
        raise DatasetError(f"Source spec {path}: its identity does not match its classes (the file was edited); "
                           "build it again with scripts/build_source.py.")
    return spec


def evidence_name(spec: dict) -> str | None:
    """How the pool evidence (conf/evidence/pool.json) calls sources built like this one: by the pool's
    content, the rule and the size, so the study's measurements apply to any target's build of the same kind."""
    rule = spec["about"].get("rule")
    if rule not in ("emd", "emd_relative") or len(spec["members"]) != 1:
        return None
    return f"built:{spec['members'][0]['fingerprint'][:16]}:{rule}{len(spec['chosen'])}"
