"""Datasets: what a dataset is (catalog name, folder, TFDS, a subset of a pool), its images in a fixed
order, their split, and decoding."""
