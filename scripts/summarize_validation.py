"""One table of ranking-vs-accuracy scores over every validation.json under a folder (e.g. a multirun).

    python scripts/summarize_validation.py multirun/validate/2026-11-22_12-00-00
"""
import argparse
from pathlib import Path

from finetune.summary import collect, markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder searched recursively for validation.json files")
    args = parser.parse_args()
    table = markdown_table(collect(args.root))
    (args.root / "summary.md").write_text(table + "\n")
    print(table)
    print(f"Written to {args.root / 'summary.md'}")


if __name__ == "__main__":
    main()
