"""Precision, recall and F1 of the tagger per tag and per language on the development corpus, plus its errors.

    .venv/bin/python bench/tagging_quality.py [--rules FILE ...] [--corpus FILE ...] [--no-errors]

Defaults: the packaged rules (streams/rules/*.yaml) and tests/corpus/tagging/*.jsonl.
Exit status 0 always: this script reports; the quality gate is tests/unit/test_tagging_corpus.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.tagging import Tagger
from streams.tagging.evaluation import evaluate_corpus, format_errors, format_table, load_corpus

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "tagging"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", action="append", type=Path, help="rule file (repeatable); default: packaged")
    parser.add_argument("--corpus", action="append", type=Path, help="corpus file (repeatable)")
    parser.add_argument("--no-errors", action="store_true", help="print only the table")
    args = parser.parse_args(argv)
    tagger = Tagger.from_paths(args.rules) if args.rules else Tagger.default()
    corpus_files = args.corpus or sorted(CORPUS_DIR.glob("*.jsonl"))
    items = load_corpus(corpus_files)
    evaluation = evaluate_corpus(tagger, items)
    print(f"corpus: {len(items)} articles from {len(corpus_files)} files; tags: {', '.join(tagger.tag_names)}\n")
    print(format_table(evaluation))
    if not args.no_errors:
        print(f"\nerrors ({len(evaluation.errors)}):")
        print(format_errors(evaluation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
