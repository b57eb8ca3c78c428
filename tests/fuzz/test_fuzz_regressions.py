"""The fuzz inputs kept in the tree, replayed through the harnesses' checks on both codecs.

Every file of ``tests/fuzz/corpus/<target>/`` (the seeds) and ``tests/fuzz/regressions/<target>/``
(inputs that once showed a bug, kept after the fix) goes through ``check()`` of its target,
exactly as the fuzzer runs it: the Cython extension and the pure-Python twin side by side,
with the limit and consistency checks of tests/fuzz/README.md. No atheris needed; these
always run. Without the extension, only the pure twin's checks run (the codec comparisons
need both).

``KNOWN_BUGS`` holds the minimal inputs of bugs the fuzzers found and that aren't fixed yet,
as strict xfails: fixing one makes its test pass, and so fail, until the entry moves to
``tests/fuzz/regressions/`` (``python -m tests.fuzz.replay TARGET FILE`` replays one).
"""

from __future__ import annotations

import pathlib

import pytest

from ._common import CYTHON
from ._worker import TARGETS, load

HERE = pathlib.Path(__file__).resolve().parent


def saved_inputs():
    for kind in ("corpus", "regressions"):
        for target in TARGETS:
            directory = HERE / kind / target
            if directory.is_dir():
                for path in sorted(directory.iterdir()):
                    if path.is_file():
                        yield pytest.param(target, path, id=f"{kind}/{target}/{path.name}")


@pytest.mark.parametrize(("target", "path"), list(saved_inputs()))
def test_saved_input(target, path):
    load(target).check(path.read_bytes())


# target -> {name: (input, reason)}; see the module docstring.
KNOWN_BUGS: dict[str, dict[str, tuple[bytes, str]]] = {}


@pytest.mark.parametrize(
    ("target", "data"),
    [
        pytest.param(target, data, id=f"{target}/{name}",
                     marks=pytest.mark.xfail(strict=True, reason=reason))
        for target, bugs in KNOWN_BUGS.items()
        for name, (data, reason) in bugs.items()
    ],
)
def test_known_bug(target, data):
    load(target).check(data)


def test_every_target_has_seeds():
    for target in TARGETS:
        assert len(list((HERE / "corpus" / target).iterdir())) >= 10, target


def test_both_codecs_are_compared_when_built():
    from ._common import codecs

    names = [name for name, _ in codecs()]
    assert names == (["cython", "python"] if CYTHON is not None else ["python"])


# Limits given to FrameReader: the values the frames harness draws are None and 0..65535; these
# are the others, probed once the harness's limit options were in place. The two codecs must
# treat them alike (whether by enforcing, or by refusing the value).


def _limit_outcome(codec, stream, **options):
    try:
        reader = codec.FrameReader(mask=False, **options)
        reader.feed_data(stream)
        return ("return", [repr(item) for item in reader.read_messages()])
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("raise", type(exc), str(exc))


HELLO = b"\x82\x05hello"  # an unmasked binary frame of 5 bytes
TWO_FRAGMENTS = b"\x02\x01a\x80\x01b"


@pytest.mark.skipif(CYTHON is None, reason="compares the Cython extension with the pure twin")
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"max_size": -1}, id="max_size=-1"),
        pytest.param({"max_size": -5}, id="max_size=-5"),
        pytest.param({"max_size": (None, -1)}, id="max_size=(None,-1)"),
        pytest.param({"max_size": (-3, None)}, id="max_size=(-3,None)"),
        pytest.param({"max_fragments": -1}, id="max_fragments=-1"),
        pytest.param({"max_size": 2**63}, id="max_size=2**63"),
        pytest.param({"max_fragments": 2**63}, id="max_fragments=2**63"),
        pytest.param({"max_size": 1.5}, id="max_size=1.5"),
    ],
)
def test_frame_reader_limits_outside_the_usual_range(options):
    from ._common import PYTHON

    stream = TWO_FRAGMENTS if "max_fragments" in options else HELLO
    assert _limit_outcome(CYTHON, stream, **options) == _limit_outcome(PYTHON, stream, **options)


def _write(reader, data):
    """As asyncio's transports write: get_buffer(), fill, buffer_updated()."""
    data = memoryview(data)
    while data:
        buffer = reader.get_buffer(-1)
        with memoryview(buffer) as raw, raw.cast("B") as view:
            count = min(len(view), len(data))
            view[:count] = data[:count]
        reader.buffer_updated(count)
        del buffer
        data = data[count:]


@pytest.mark.skipif(CYTHON is None, reason="compares the Cython extension with the pure twin")
def test_nothing_is_taken_after_a_close_frame_through_get_buffer():
    """A close frame, then a text frame of 32769 bytes: nothing after the close frame is
    taken, not even into the payload object of a frame that read_frame() started from bytes
    already buffered (the extension used to complete it; the frames fuzzer found it, the
    input is regressions/frames/direct-payload-after-close)."""
    from ._common import PYTHON

    big = b"\x81\x7e" + (32769).to_bytes(2, "big") + bytes(32769)

    def run(codec):
        reader = codec.FrameReader(mask=False, max_size=None)
        _write(reader, b"\x88\x00" + big[:100])
        assert [int(item.opcode) for item in reader.read_messages()] == [8]  # closed now
        assert reader.read_frame() is None  # the large frame's header: direct mode starts
        _write(reader, big[100:])  # RFC 6455 §1.4: discarded
        frame = reader.read_frame()
        return None if frame is None else (int(frame.opcode), len(frame.data))

    assert run(PYTHON) is None
    assert run(CYTHON) is None
