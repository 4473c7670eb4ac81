"""One base class for every error a user can fix (bad option, missing file, unusable dataset)."""


class RecommenderError(Exception):
    """The message names the file or option at fault and what to do; scripts print it without a traceback."""


class DatasetError(RecommenderError, ValueError):
    """A dataset cannot be used as asked; the message says which one and what to do."""
