"""recommend warns about a target whose images are byte copies of a source's, and flags that source."""
import shutil

from conftest import make_folder_dataset

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def test_recommend_warns_about_a_target_copied_from_a_source(tmp_path, cfg_factory):
    from recommender import recommend
    from recommender.explain.report import format_table

    source = make_folder_dataset(tmp_path / "source", COLOURS, per_class=6, seed=1)
    other = make_folder_dataset(tmp_path / "other", {"grey": (128, 128, 128), "white": (250, 250, 250)}, seed=4)
    target = tmp_path / "target"
    shutil.copytree(source, target)  # every image a byte copy of the source's
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{source},{other}]",
                                        "distance=class_mean_emd", "report.explain=false"))
    by_name = {s.name: s for s in ranking.sources}
    assert by_name["source"].shared_images == 12 and by_name["other"].shared_images == 0
    assert sum("shares 12 of its 12 images" in n and "source" in n for n in ranking.notes) == 1
    assert "source (! 12 of the target's images)" in format_table(ranking)
    assert ranking.to_dict()["sources"][0]["shared_images_with_target"] in (0, 12)
