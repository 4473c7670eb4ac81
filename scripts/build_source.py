"""Build a pretraining source from the pool classes closest to the target (Cui et al. 2018, section 4.2).

    python scripts/build_source.py target=plants                          # the 10 closest Tiny ImageNet classes
    python scripts/build_source.py target=/data/my_images pool=[tinyimagenet,flowers] pool_classes=25
    python scripts/build_source.py target=plants rule=random build_seed=1   # the control: drawn classes
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recommender.checks import check_config, preflight, user_errors
from recommender.common.logs import say
from recommender.pool import build_rules, build_source
from recommender.explain.built_source import write_source_report


@hydra.main(version_base="1.3", config_path="../conf", config_name="build_source")
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with user_errors():
        check_config(cfg, build_rules(), required=[("target", "plants")])
        spec = build_source(cfg, str(cfg.target), list(cfg.pool), int(cfg.pool_classes), str(cfg.rule),
                            int(cfg.build_seed), cfg.name)
        paths = write_source_report(spec, images_of(spec, cfg), out_dir)
    shown = spec["chosen"][:10]
    say(f"Built source {spec['name']}: {len(spec['chosen'])} of {spec['about']['pool_classes']} pool classes"
        + (f", closest first: {', '.join(c['class'] for c in shown)}{', ...' if len(spec['chosen']) > 10 else ''}"
           if spec["about"]["rule"] == "emd" else " drawn at random"))
    say(f"Source spec: {paths['spec']}  (use it as sources=[{paths['spec']}] or source={paths['spec']})")
    say(f"Report: {paths['html']}")


def images_of(spec, cfg):
    """(pool ref, class) -> that class's image files, for the report's grid."""
    from recommender import open_dataset

    found = {}
    for member in spec["members"]:
        images = open_dataset(member["dataset"], cfg)
        for c in member["classes"]:
            label = images.class_names.index(c)
            found[(member["dataset"], c)] = [r for r, lab in zip(images.refs, images.labels) if lab == label]
    return found


if __name__ == "__main__":
    preflight("build_source")
    main()
