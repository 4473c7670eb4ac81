"""The k most similar images to a query image across datasets (content-based image retrieval).

    python scripts/retrieve.py query=/path/to/leaf.jpg
    python scripts/retrieve.py query=/path/to/leaf.jpg datasets=[plants,flowers] k=5
"""
import csv
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recommender import make_extractor
from recommender.errors import RecommenderError
from recommender.retrieval import build_index, encode_query, plot_matches


@hydra.main(version_base="1.3", config_path="../conf", config_name="retrieve")
def main(cfg: DictConfig) -> None:
    names = list(cfg.catalog) if cfg.datasets == "all" else [str(d) for d in cfg.datasets]
    extractor = make_extractor(cfg)
    try:
        query = encode_query(cfg.query, extractor)
        matches = build_index(names, cfg, extractor).search(query, int(cfg.k))
    except RecommenderError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    out_dir = HydraConfig.get().runtime.output_dir
    with open(f"{out_dir}/matches.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "dataset", "class", "distance", "image"])
        for m in matches:
            writer.writerow([m.rank, m.dataset, m.class_name, f"{m.distance:.4f}", m.ref])
    plot_matches(cfg.query, matches, f"{out_dir}/matches.png")
    print(f"Query: {cfg.query} — {len(matches)} nearest images in {', '.join(names)}")
    for m in matches:
        print(f"{m.rank:>3}  {m.distance:8.3f}  {m.dataset}/{m.class_name}  {m.ref}")
    print(f"Written to {out_dir}/matches.csv and matches.png")


if __name__ == "__main__":
    main()
