"""The k most similar images to a query image across datasets (content-based image retrieval).

    python scripts/retrieve.py query=/path/to/leaf.jpg
    python scripts/retrieve.py query=/path/to/leaf.jpg datasets=[plants,flowers] k=5
"""
import csv

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recommender import make_extractor
from recommender.data.datasets import catalog_sources
from recommender.common.logs import say
from recommender.checks import check_config, user_errors, preflight
from recommender.explain.retrieval import build_index, encode_query, load_embedding, plot_matches


@hydra.main(version_base="1.3", config_path="../conf", config_name="retrieve")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, required=[("query", "/path/to/image.jpg")])
        names = [str(cfg.datasets)] if isinstance(cfg.datasets, str) and cfg.datasets != "all" else (
            catalog_sources(cfg.catalog) if cfg.datasets == "all" else [str(d) for d in cfg.datasets])
        extractor = make_extractor(cfg)
        query = encode_query(cfg.query, extractor)
        embed = load_embedding(cfg.embedding, query.shape[-1]) if cfg.embedding else None
        matches = build_index(names, cfg, extractor, embed).search(query, int(cfg.k))
    out_dir = HydraConfig.get().runtime.output_dir
    with open(f"{out_dir}/matches.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "dataset", "class", "distance", "image"])
        for m in matches:
            writer.writerow([m.rank, m.dataset, m.class_name, f"{m.distance:.4f}", m.ref])
    plot_matches(cfg.query, matches, f"{out_dir}/matches.png")
    say(f"Query: {cfg.query} — {len(matches)} nearest images in {', '.join(names)}")
    for m in matches:
        say(f"{m.rank:>3}  {m.distance:8.3f}  {m.dataset}/{m.class_name}  {m.ref}")
    say(f"Written to {out_dir}/matches.csv and matches.png")


if __name__ == "__main__":
    preflight("retrieve")
    main()
