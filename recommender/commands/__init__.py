"""The console commands pip installs ([project.scripts] in pyproject.toml); one module per command, named as the
command's run folder and log file are (Hydra takes the job name from the module's file name)."""
