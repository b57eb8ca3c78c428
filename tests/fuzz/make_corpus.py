"""Write the seed corpus: ``python -m tests.fuzz.make_corpus``.

Each harness's ``seeds()`` builds a few dozen small inputs from valid frames, handshakes and
header values (and a few classic violations); they are written to
``tests/fuzz/corpus/<target>/<name>``, replacing what was there. The files are committed:
the fuzzers start from them and the regression tests replay them.
"""

from __future__ import annotations

import pathlib
import shutil

from ._worker import TARGETS, load

CORPUS = pathlib.Path(__file__).with_name("corpus")


def main() -> None:
    for target in TARGETS:
        directory = CORPUS / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        seeds = load(target).seeds()
        for name, data in seeds:
            (directory / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds, {sum(len(d) for _, d in seeds)} bytes")


if __name__ == "__main__":
    main()
