"""Check a whole configuration before any work: one table of constraints, one clear error per bad option.

Every entry point calls `check_config` first, so a typo costs a second, not an extraction. The allowed values
come from the modules that use them (GROUND_METRICS, KERAS_ALPHAS, ...), so the table cannot drift from
the code. Other packages add their own rows (see finetune/checks.py).
"""
from __future__ import annotations

import contextlib
import errno
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from recommender.features.backbone import KERAS_ALPHAS
from recommender.rankers.base import ranker_class
from recommender.features.extract import RUNNERS
from recommender.pool import rules as pool_rules
from recommender.common.checks import (ConfigError, Rule, _number, boolean, choice, integer, number, writable_folder)
from recommender.common.errors import RecommenderError


def names(value):
    """`all` or a non-empty list of dataset names / folder paths."""
    if value == "all" or (isinstance(value, str) and value):
        return None
    if isinstance(value, (list, tuple, ListConfig)) and len(value) > 0 and all(isinstance(v, str) and v for v in value):
        return None
    return "must be `all` or a non-empty list of catalog names or folder paths, e.g. [flowers,/data/leaves]"


def split_fractions(value):
    """The rule of `split`: train, val and test fractions, non-negative, train and test above 0, summing to 1."""
    try:
        fractions = {k: value[k] for k in ("train", "val", "test")}
    except Exception:
        return "must have train, val and test fractions"
    if not all(_number(f) and f >= 0 for f in fractions.values()):
        return "fractions must be non-negative numbers"
    if abs(sum(fractions.values()) - 1.0) > 1e-6 or fractions["train"] <= 0 or fractions["test"] <= 0:
        return f"fractions {fractions} must sum to 1, with train and test above 0"
    return None


RECOMMENDER_RULES: tuple[Rule, ...] = (
    Rule("sources", names, optional=True),
    Rule("seed", integer(0)),  # NumPy's generators take no negative seed
    Rule("split", split_fractions),
    Rule("backbone.alpha", choice(KERAS_ALPHAS, numeric=True)),
    Rule("backbone.image_size", integer(32, 1024)),
    Rule("features.batch_size", integer(1, 4096)),
    Rule("features.max_images_per_class", integer(1, nullable=True)),
    Rule("features.progress", boolean),
    Rule("features.cache_dir", writable_folder),
    Rule("features.runner", choice(RUNNERS)),
    Rule("features.beam_options", lambda v: None if isinstance(v, (dict, DictConfig)) and all(
        isinstance(o, (str, int, float, bool)) for o in v.values())
        else "must map Beam option names to values, e.g. {runner: DirectRunner, direct_num_workers: 2}"),
    Rule("features.rows_per_class", integer(1, nullable=True)),
    Rule("features.beam_options.direct_num_workers", integer(1, 1024), optional=True),
    Rule("features.beam_options.runner", lambda v: None if isinstance(v, str) and v
         else "must name a Beam runner, e.g. DirectRunner, PrismRunner, FlinkRunner or DataflowRunner",
         optional=True),
    Rule("domain.min_images_per_class", integer(1)),
    Rule("distance.name", lambda v: None if isinstance(v, str) and v else "must name a distance"),
    Rule("distance.gamma", number(minimum=0)),
    # The selected distance's own options: the rules its module declares (distance_rules).
    Rule("distance.evidence", lambda v: None if v is None or (isinstance(v, str) and v)
         else "must be the path of a catalog_evidence.json or null", optional=True),
    *pool_rules(),
    Rule("report.top_flows", integer(0)),
    Rule("report.explain", boolean),
    Rule("report.top_k", integer(0)),
    Rule("report.samples_per_class", integer(1)),
    Rule("report.neighbours", integer(1)),
    Rule("report.map_points_per_dataset", integer(2)),
    Rule("report.map", boolean, optional=True),
    Rule("report.knn_k", integer(1)),
    Rule("report.seed", integer()),
    # retrieve.py
    Rule("k", integer(1), optional=True),
    Rule("datasets", names, optional=True),
    Rule("embedding", lambda v: None if v is None or (isinstance(v, str) and v) else "must be a head.keras path or null",
         optional=True),
)


def _lookup(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            raise KeyError(key)
        if OmegaConf.is_missing(node, part):
            return "???"
        node = node[part]
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, (DictConfig, ListConfig)) else node


def check_config(cfg: DictConfig, extra_rules: Iterable[Rule] = (), required: Sequence[tuple[str, str]] = (),
                 cross_checks: Iterable[Callable[[DictConfig], str | None]] = ()) -> None:
    """Raise ConfigError for the first option that breaks a rule (or a `required` option that is unset), naming
    the option, its value and the fix. `required` pairs an option with an example value; a cross check looks
    at several options together and returns the whole message."""
    for key, example in required:
        try:
            value = _lookup(cfg, key)
        except KeyError:
            value = "???"
        except Exception as err:  # an interpolation that cannot resolve, e.g. ${oc.env:NOPE}
            raise ConfigError(f"{key} cannot be resolved ({err}); pass {key}={example}.") from None
        if value in ("???", None, ""):
            raise ConfigError(f"{key} is not set: pass {key}={example}.")
    for rule in (*RECOMMENDER_RULES, *distance_rules(cfg), *extra_rules):
        try:
            value = _lookup(cfg, rule.key)
        except KeyError:
            if rule.optional:
                continue
            raise ConfigError(f"{rule.key} is missing from the configuration; restore it in conf/.") from None
        except Exception as err:  # an interpolation that cannot resolve (e.g. a missing environment variable)
            raise ConfigError(f"{rule.key} cannot be resolved ({err}).") from None
        if value == "???" and rule.optional:
            continue
        problem = rule.check(value)
        if problem:
            raise ConfigError(f"{rule.key}={value!r} {problem}.")
    for cross_check in (_beam_runner_exists, _distance_known, *cross_checks):
        problem = cross_check(cfg)
        if problem:
            raise ConfigError(problem)
    _check_weights(cfg)


def distance_rules(cfg: DictConfig) -> tuple[Rule, ...]:
    """The selected ranker's own rules, declared next to its code: a Ranker class's `rules`, else the RULES of its
    module (a distance module's factory)."""
    distance = cfg.get("distance")
    if distance is None:
        return ()
    try:
        found = ranker_class(distance)
    except ValueError:
        return ()  # _distance_known says why
    if found is None:
        return ()
    rules = getattr(found, "rules", None)
    return tuple(rules) if rules is not None else tuple(getattr(sys.modules[found.__module__], "RULES", ()))


def _distance_known(cfg: DictConfig) -> str | None:
    """The option names a ranker: a `_target_` that imports (its own or its YAML's), or an installed one."""
    distance = cfg.get("distance")
    if distance is None:
        return None
    try:
        if ranker_class(distance) is not None:
            return None
    except ValueError as err:
        return str(err)
    name = str(distance.get("name"))
    from recommender.common.paths import CONF_DIR

    options = sorted(p.stem for p in (CONF_DIR / "distance").glob("*.yaml"))
    return (f"distance.name={name!r} is not a distance: choose an option of the group, distance=one of "
            f"{', '.join(options)} (or name a factory with _target_).")


def _beam_runner_exists(cfg: DictConfig) -> str | None:
    """features.runner=beam: the Beam runner must be one Beam knows (or a dotted path to a runner class), checked
    before anything is listed or extracted, and even when every feature is already cached."""
    features = cfg.get("features")
    if features is None or features.get("runner") != "beam":
        return None
    runner = str((features.get("beam_options") or {}).get("runner", "DirectRunner"))
    try:
        from apache_beam.runners.runner import _RUNNER_MAP
    except ImportError:
        return None  # features.runner=beam without Beam installed is its own error, with the install command
    if "." in runner or runner.lower() in _RUNNER_MAP:
        return None
    return (f"features.beam_options.runner={runner!r} is not a Beam runner; use one of DirectRunner, PrismRunner, "
            "FlinkRunner, SparkRunner, DataflowRunner or PortableRunner (or a dotted path to a runner class).")


def _check_weights(cfg: DictConfig) -> None:
    """The backbone's weights must be at hand before anything is extracted (raises BackboneError)."""
    from recommender.api import backbone_spec
    from recommender.features.backbone import resolve_weights

    resolve_weights(backbone_spec(cfg))


def preflight(config_name: str, argv: Sequence[str] | None = None) -> None:
    """Compose the configuration as Hydra is about to, so a command line Hydra cannot apply (a key the selected
    group option lacks, an unknown option) is one `error:` line and exit code 2, like every other bad input,
    instead of Hydra's multi-line report. Sweeps (-m) and Hydra's own flags are left to Hydra."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from recommender.config import CONF_DIR

    args = list(sys.argv[1:] if argv is None else argv)
    if any(a.startswith("-") for a in args):
        return
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            composed = compose(config_name, overrides=args, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        import re

        unknown = re.match(r"Could not override '([^']+)'", str(err))
        if unknown and "not in struct" in str(err.__cause__):
            # Hydra suggests `+key=value`, which would add a key nothing reads: say what is wrong instead.
            message = (f"{unknown.group(1)} is not an option of this configuration. A key that only some options "
                       "of a group have needs that option selected first (e.g. distance=class_mean_emd "
                       "distance.ground_metric=cosine); otherwise check its spelling in docs/configuration.md's "
                       "reference.")
        else:
            cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
            message = f"the command line cannot be applied: {err}{cause}."
        print("error: " + " ".join(message.split()), file=sys.stderr)
        sys.exit(2)
    _run_dir_writable(composed)
    _run_dir_outside_datasets(composed)


def _run_dir_writable(composed) -> None:
    """Hydra makes the run folder before the script starts: one it cannot write to (a read-only mount, no
    permission) is one `error:` line here, not Hydra's traceback."""
    import os

    try:
        run_dir = Path(str(composed.hydra.run.dir)).expanduser().absolute()
    except Exception:  # an interpolation only Hydra's own run can resolve: Hydra reports it
        return
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        print(f"error: hydra.run.dir={run_dir} cannot be created: {existing} is not a folder this run can write to "
              "(read-only or no permission); choose another folder with hydra.run.dir=<folder>.", file=sys.stderr)
        sys.exit(2)


def _run_dir_outside_datasets(composed) -> None:
    """A run folder inside a dataset being read (hydra.run.dir=<target>/out) would make its reports a class of
    that dataset on the next run: refused before Hydra creates it."""
    try:
        run_dir = Path(str(composed.hydra.run.dir)).expanduser().resolve()
        names = [composed.get("target")] if "target" in composed else []
        sources = composed.get("sources")
        names += [] if sources in (None, "all") else ([sources] if isinstance(sources, str) else list(sources))
    except Exception:  # an interpolation only Hydra's own run can resolve: nothing to compare
        return
    from recommender.data.datasets import resolve_dataset

    for name in names:
        if name is None:
            continue
        try:
            spec = resolve_dataset(str(name), composed.catalog, composed.get("data_root"))
        except Exception:  # DatasetError and the like: the dataset's own check says what is wrong, later
            continue
        folder = getattr(spec, "path", None)
        if folder is not None and Path(folder).is_dir():
            folder = Path(folder).resolve()
            if run_dir == folder or folder in run_dir.parents:
                print(f"error: hydra.run.dir={run_dir} is inside the dataset {name} ({folder}): its reports would "
                      "become images of that dataset; choose a run folder outside it.", file=sys.stderr)
                sys.exit(2)


@contextlib.contextmanager
def user_errors(cleanup=None):
    """Turn a RecommenderError into one `error: ...` line on stderr and exit code 2 (no traceback); Ctrl-C into
    one line and exit code 130. `cleanup()` runs first on either (e.g. removing the run folder it left empty)."""
    try:
        yield
    except RecommenderError as err:
        if cleanup is not None:
            cleanup()
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in WRITE_FAILURES:
            raise
        written = err.filename2 or err.filename  # a copy (shutil) names its source first, the file written second
        where = Path(written).parent if written else "the output or cache folder"
        print(f"error: cannot write {written or 'a file'}: {err.strerror}. Free space in {where} or choose "
              "another folder (hydra.run.dir for the reports, features.cache_dir and finetune.checkpoint_dir for "
              "the caches); nothing half-written was left under a result's name.", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if cleanup is not None:
            cleanup()
        print("error: interrupted (Ctrl-C); nothing half-written is kept: caches are written atomically.",
              file=sys.stderr)
        sys.exit(130)


# A write that failed for want of room or permission: the user's environment, said in one line.
WRITE_FAILURES = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}


def remove_failed_run(out_dir) -> None:
    """Remove a run folder that a failed run left with nothing in it but Hydra's own record (.hydra/) and empty
    log files; a folder holding anything else is kept."""
    import shutil

    folder = Path(out_dir)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name == ".hydra" and entry.is_dir():
            continue
        if entry.suffix == ".log" and entry.is_file() and entry.stat().st_size == 0:
            continue
        return
    shutil.rmtree(folder, ignore_errors=True)
