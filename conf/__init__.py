"""The Hydra configuration and the shipped evidence: package data of `recommender.conf` (see pyproject.toml)."""
