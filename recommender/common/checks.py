"""The checks engine: a rule per option (a dotted key and a check that returns what is wrong, or None) and the
checks that rules are made of. Each component declares its own rules next to its code (a distance in its
module, the pool in recommender/pool.py, fine-tuning in finetune/checks.py); recommender/checks.py reads them.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import ListConfig

from recommender.common.errors import RecommenderError


class ConfigError(RecommenderError, ValueError):
    """An option has a value the project cannot use; the message names the option and the fix."""

@dataclass(frozen=True)
class Rule:
    key: str  # dotted path in the configuration
    check: Callable[[Any], str | None]  # None when fine, else what is wrong and how to fix it
    optional: bool = False  # absent from this script's configuration: nothing to check

def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

def integer(minimum: int | None = None, maximum: int | None = None, nullable: bool = False):
    """A rule: a whole number within [minimum, maximum] (or null when `nullable`)."""
    def check(value):
        if value is None and nullable:
            return None
        if not (_number(value) and float(value).is_integer()):
            return f"must be a whole number{' or null' if nullable else ''}"
        if minimum is not None and value < minimum:
            return f"must be at least {minimum}"
        if maximum is not None and value > maximum:
            return f"must be at most {maximum}"
        return None
    return check

def number(minimum: float | None = None, maximum: float | None = None, above: float | None = None,
           below: float | None = None):
    """A rule: a number within [minimum, maximum] and strictly between `above` and `below`."""
    def check(value):
        if not _number(value):
            return "must be a number"
        if minimum is not None and value < minimum:
            return f"must be at least {minimum}"
        if above is not None and value <= above:
            return f"must be greater than {above}"
        if maximum is not None and value > maximum:
            return f"must be at most {maximum}"
        if below is not None and value >= below:
            return f"must be less than {below}"
        return None
    return check

def choice(allowed: Sequence, numeric: bool = False):
    """A rule: one of `allowed` (compared as numbers with `numeric`)."""
    def check(value):
        if numeric:
            ok = _number(value) and float(value) in [float(a) for a in allowed]
        else:
            ok = isinstance(value, str) and value in allowed
        return None if ok else f"must be one of {', '.join(str(a) for a in allowed)}"
    return check

def boolean(value):
    """The rule of a flag: true or false, not a string that looks like one."""
    return None if isinstance(value, bool) else "must be true or false"

def integer_list(minimum: int = 1, allow_empty: bool = False):
    """A rule: a list of whole numbers, each at least `minimum` (empty only with `allow_empty`)."""
    def check(value):
        if not isinstance(value, (list, tuple, ListConfig)) or (not allow_empty and len(value) == 0):
            return f"must be a {'' if allow_empty else 'non-empty '}list of whole numbers, e.g. [5,20]"
        for item in value:
            problem = integer(minimum)(item)
            if problem:
                return f"holds {item!r}, which {problem}"
        return None
    return check

def writable_folder(value):
    """The rule of an output or cache folder: it exists or can be made, and a file can be written in it."""
    if not isinstance(value, str) or not value:
        return "must be a folder path"
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        return f"is not a folder this run can write to ({err.strerror or err}); choose a writable folder"
    return None
