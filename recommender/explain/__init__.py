"""What the recommender shows: the report (Markdown and HTML), its figures, retrieval, built-source pages."""
