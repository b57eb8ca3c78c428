"""End-to-end echo benchmark: ``python -m bench.echo --help``; see bench/README.md."""
