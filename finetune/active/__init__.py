"""Active learning from a transferred network: strategies, campaigns, the report."""
