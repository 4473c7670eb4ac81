"""One base class for every error a user can fix (bad option, missing file, unusable dataset)."""


class RecommenderError(Exception):
    """The message names the file or option at fault and what to do; scripts print it without a traceback."""
