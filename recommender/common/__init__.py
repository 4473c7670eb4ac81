"""Shared plumbing of the recommender: errors, atomic files, caches, HTML, plotting, logging."""
