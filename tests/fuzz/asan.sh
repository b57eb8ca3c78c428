#!/usr/bin/env bash
# Build wsfast._speedups with AddressSanitizer and UndefinedBehaviorSanitizer, then run the
# codec test suites and a short fuzz run against that build.
#
#   tests/fuzz/asan.sh [FUZZ_SECONDS]        (default 30 per fuzz target; 0 skips fuzzing)
#
# Environment:
#   PYTHON              interpreter with Cython, setuptools, pytest, hypothesis (and atheris
#                       for the fuzz run); default: /work/venv/bin/python if present, else python3
#   WSFAST_SANITIZE     sanitizers to build with (default address,undefined)
#   WSFAST_ASAN_DIR     scratch build directory (default: a new temporary directory)
#   WSFAST_ASAN_SOURCE  worktree (default: the files as they are now) or head (git HEAD)
#   WSFAST_ASAN_ENGINE  random (default) or atheris: the fuzz engine, see tests/fuzz/run.py.
#                       atheris runs under GCC's ASan runtime, but that runtime then provides
#                       the coverage callbacks atheris's libFuzzer needs, so coverage feedback
#                       is lost ("Coverage symbols are being provided by a library other than
#                       libFuzzer"): it mutates blindly, like the random engine, only slower.
#   WSFAST_ASAN_CORPUS  a corpus directory of an earlier coverage-guided run
#                       (python -m tests.fuzz.run --corpus-out DIR): its inputs, per target,
#                       are replayed and mutated under the sanitizers too
#   WSFAST_ASAN_TESTS   the pytest arguments (default: the codec suites listed below)
#
# The extension is built in place in a copy of the source tree, never in the checkout (whose
# editable install keeps its normal build), and imported from there through PYTHONPATH. The
# interpreter itself isn't instrumented, so the ASan runtime is preloaded (LD_PRELOAD of GCC's
# libasan) before it starts; PYTHONMALLOC=malloc sends every Python allocation through the
# sanitizer's malloc, so an overflow out of a bytes object the extension fills is caught.
# detect_leaks=0: the interpreter keeps objects alive until exit (interned strings, module
# state, pymalloc-free caches), which LeakSanitizer would report as leaks of no interest.
# Exit status: 0 when the tests pass and the fuzz run finds nothing; otherwise non-zero, and a
# sanitizer report (grep for "ERROR: AddressSanitizer" or "runtime error:") says why.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
FUZZ_SECONDS="${1:-30}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi
SANITIZE="${WSFAST_SANITIZE:-address,undefined}"
BUILD="${WSFAST_ASAN_DIR:-$(mktemp -d /tmp/wsfast-asan.XXXXXX)}"
SOURCE="${WSFAST_ASAN_SOURCE:-worktree}"
ENGINE="${WSFAST_ASAN_ENGINE:-random}"
CC="${CC:-gcc}"

echo "== sanitizer build ($SANITIZE) of the $SOURCE in $BUILD"
mkdir -p "$BUILD"
rm -rf "$BUILD/src" "$BUILD/csrc"
if [[ "$SOURCE" == head ]]; then
    git -C "$ROOT" archive HEAD src csrc setup.py pyproject.toml README.md MANIFEST.in | tar -x -C "$BUILD"
else
    cp -r "$ROOT/src" "$ROOT/csrc" "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/README.md" "$BUILD/"
fi
find "$BUILD/src" \( -name '*.so' -o -name '__pycache__' -o -name '_build_failure.txt' \) -prune -exec rm -rf {} +
rm -f "$BUILD/csrc/wsfast/_speedups.c"
(cd "$BUILD" && CC="$CC" WSFAST_SANITIZE="$SANITIZE" WSFAST_BUILD_EXTENSION=required \
    "$PYTHON" setup.py -q build_ext --inplace > "$BUILD/build.log" 2>&1) || {
    tail -40 "$BUILD/build.log"; echo "the sanitizer build failed"; exit 2; }

so=$(ls "$BUILD"/src/wsfast/_speedups*.so)
nm -D "$so" > "$BUILD/symbols.txt"
case ",$SANITIZE," in
    *,address,*) grep -q __asan_init "$BUILD/symbols.txt" || { echo "$so has no ASan instrumentation"; exit 2; } ;;
esac
case ",$SANITIZE," in
    *,undefined,*) grep -q __ubsan_handle "$BUILD/symbols.txt" || { echo "$so has no UBSan instrumentation"; exit 2; } ;;
esac

runtime=()
for name in ${SANITIZE//,/ }; do
    case "$name" in
        address) runtime+=("$("$CC" -print-file-name=libasan.so)") ;;
        undefined) runtime+=("$("$CC" -print-file-name=libubsan.so)") ;;
        *) echo "note: no runtime to preload for -fsanitize=$name" ;;
    esac
done
for lib in "${runtime[@]}"; do
    [[ -e "$lib" ]] || { echo "sanitizer runtime not found: $lib"; exit 2; }
done

export LD_PRELOAD="${runtime[*]}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:exitcode=86:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}"
export PYTHONMALLOC=malloc
export PYTHONPATH="$BUILD/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

"$PYTHON" - "$BUILD" <<'EOF'
import sys, wsfast, wsfast._speedups as ext
build = sys.argv[1]
assert ext.__file__.startswith(build), f"not the sanitizer build: {ext.__file__}"
assert wsfast.IMPLEMENTATION == "cython", wsfast.FALLBACK_REASON
print(f"using {ext.__file__} (MASK_IMPL={ext.MASK_IMPL}, UTF8_IMPL={ext.UTF8_IMPL})")
EOF

# The sanitizer must be live: an overflow through libc's memmove (intercepted by ASan) into a
# bytes-sized buffer must abort the interpreter with ASan's exit code.
case ",$SANITIZE," in
    *,address,*)
        canary=0
        "$PYTHON" -c 'import ctypes; a = ctypes.create_string_buffer(16); ctypes.memmove(a, bytes(64), 64)' \
            > "$BUILD/canary.log" 2>&1 || canary=$?
        if [[ $canary -ne 86 ]] || ! grep -q "ERROR: AddressSanitizer" "$BUILD/canary.log"; then
            cat "$BUILD/canary.log"; echo "AddressSanitizer is not active (exit $canary)"; exit 2
        fi
        echo "AddressSanitizer is active (an overflow on purpose was caught)" ;;
esac

status=0
echo "== codec test suites under the sanitizers"
if [[ -n "${WSFAST_ASAN_TESTS:-}" ]]; then
    read -r -a tests <<< "$WSFAST_ASAN_TESTS"
else
    tests=(tests/codec/test_frame_reader.py tests/codec/test_mask.py tests/codec/test_utf8.py
           tests/codec/test_differential.py tests/sansio/test_permessage_deflate.py
           tests/codec/test_message_reader.py tests/sansio/test_protocol.py
           tests/codec/test_frame_header.py tests/packaging/test_implementation_switch.py
           tests/fuzz/test_fuzz_regressions.py)
fi
(cd "$ROOT" && "$PYTHON" -m pytest -q -p no:cacheprovider "${tests[@]}") || status=$?
echo "pytest exit status: $status"

if [[ "$FUZZ_SECONDS" != 0 ]]; then
    echo "== fuzzing under the sanitizers ($FUZZ_SECONDS s per target, $ENGINE)"
    fuzz_status=0
    (cd "$ROOT" && "$PYTHON" -m tests.fuzz.run --seconds "$FUZZ_SECONDS" --engine "$ENGINE" \
        --findings "$BUILD/findings" --corpus-out "${WSFAST_ASAN_CORPUS:-$BUILD/corpus}") || fuzz_status=$?
    echo "fuzz exit status: $fuzz_status"
    [[ $status -ne 0 ]] || status=$fuzz_status
fi
echo "== sanitizer run: $([[ $status -eq 0 ]] && echo clean || echo "FAILED (exit $status)"); build in $BUILD"
exit "$status"
