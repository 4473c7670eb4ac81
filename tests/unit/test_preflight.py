"""A command line Hydra cannot apply is one `error:` line and exit code 2, before Hydra's own report."""
import pytest

from recommender.checks import preflight


@pytest.mark.parametrize("args, named", [
    (["target=plants", "distance.ground_metric=cosine"], "distance.ground_metric"),  # prior_mix has no such key
    (["target=plants", "distance=nearest"], "distance/nearest"),
    (["target=plants", "colour=red"], "colour"),
])
def test_an_override_hydra_cannot_apply_is_one_error_line(args, named, capsys):
    with pytest.raises(SystemExit) as exit_:
        preflight("config", args)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]


def test_a_good_command_line_and_hydra_flags_pass_through(capsys):
    preflight("config", ["target=plants", "distance=class_mean_emd", "distance.ground_metric=cosine",
                         "hydra.run.dir=/tmp/somewhere"])
    preflight("config", ["-m", "target=plants,flowers"])  # sweeps are Hydra's to expand
    assert capsys.readouterr().err == ""
