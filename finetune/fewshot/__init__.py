"""Few-shot episodes on a transferred network's features, and the DeepEMD comparison."""
