"""One table of ranking-vs-accuracy scores over every validation.json under a folder (e.g. a multirun).

    python scripts/summarize_validation.py multirun/validate/2026-11-22_12-00-00
"""
import argparse
import json
import sys
from pathlib import Path

from finetune.transfer.summary import collect, markdown_table


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)  # bad input, as every script exits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder searched recursively for validation.json files")
    args = parser.parse_args()
    if not args.root.is_dir():
        fail(f"{args.root} is not a folder; pass the run folder (or multirun folder) of scripts/validate.py.")
    try:
        table = markdown_table(collect(args.root))
        (args.root / "summary.md").write_text(table + "\n")
    except FileNotFoundError as err:
        fail(str(err))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        fail(f"{args.root}: {type(err).__name__}: {err}; fix or remove that file and run again.")
    print(table)
    print(f"Written to {args.root / 'summary.md'}")


if __name__ == "__main__":
    main()
