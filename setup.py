"""Build script for wsfast's optional Cython extension.

WSFAST_BUILD_EXTENSION steers the build:
  auto      (default) build wsfast._speedups; if compiling fails, install the pure-Python
            package anyway and say why. On interpreters other than CPython, same as "no".
  required  fail the build when the extension cannot be built (used by CI and wheel jobs).
  no        build a pure py3-none-any wheel.

WSFAST_SANITIZE builds the extension with compiler sanitizers, for testing only (never for a
wheel): a comma-separated list of -fsanitize= values, e.g. WSFAST_SANITIZE=address,undefined.
It compiles with -O1 -g -fno-omit-frame-pointer (and -fno-sanitize-recover for undefined, so
that UBSan errors abort) and links with the same -fsanitize flags; running it needs the
sanitizer runtime preloaded into the interpreter (LD_PRELOAD=$(gcc -print-file-name=libasan.so)).
tests/fuzz/asan.sh does all of that. Unset or empty: the normal build, flags unchanged.
"""

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("WSFAST_BUILD_EXTENSION", "auto").strip().lower() or "auto"
if MODE not in {"auto", "required", "no"}:
    sys.exit(f"WSFAST_BUILD_EXTENSION must be auto, required or no, not {MODE!r}")
if MODE == "auto" and platform.python_implementation() != "CPython":
    # PyPy and others run the pure-Python twin faster than a C-API extension.
    MODE = "no"


SANITIZE = [name.strip() for name in os.environ.get("WSFAST_SANITIZE", "").split(",") if name.strip()]
if SANITIZE and sys.platform == "win32":
    sys.exit("WSFAST_SANITIZE is supported with GCC and Clang only")
if SANITIZE and MODE == "no":
    sys.exit("WSFAST_SANITIZE needs the extension: don't combine it with WSFAST_BUILD_EXTENSION=no")


def sanitize_args():
    """Compile flags of a WSFAST_SANITIZE build (testing only: debug info, -O1)."""
    flags = [f"-fsanitize={','.join(SANITIZE)}", "-fno-omit-frame-pointer", "-O1", "-g"]
    if "undefined" in SANITIZE:
        flags.append("-fno-sanitize-recover=undefined")
    return flags + ["-fno-strict-aliasing"]


def compile_args():
    if SANITIZE:
        return sanitize_args()
    if sys.platform == "win32":
        return ["/O2"]
    # -g0 overrides a -g inherited from the interpreter's own CFLAGS: wheels ship without
    # debug info. SIMD kernels get their ISA through target attributes and are chosen at run
    # time, so no -march flag here (the wheel must run on any CPU of its platform).
    return ["-O3", "-g0", "-fno-strict-aliasing"]


def link_args():
    return [f"-fsanitize={','.join(SANITIZE)}"] if SANITIZE else []


class BuildExt(build_ext):
    """build_ext that, in auto mode, falls back to pure Python and records why."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # compiler missing entirely, Cython missing, ...
            if MODE != "auto":
                raise
            self._fall_back(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            if MODE != "auto":
                raise
            self._fall_back(exc)

    def _fall_back(self, exc):
        reason = f"{type(exc).__name__}: {exc}".strip()
        self.warn(
            "wsfast: building the Cython extension failed; installing the pure-Python "
            f"implementation instead ({reason}). Set WSFAST_BUILD_EXTENSION=required to "
            "make this an error."
        )
        target = os.path.join(self.build_lib, "wsfast", "_build_failure.txt")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as file:
            file.write(reason + "\n")


ext_modules = []
if MODE != "no":
    ext_modules.append(
        Extension(
            "wsfast._speedups",
            sources=[
                "csrc/wsfast/_speedups.pyx",
                "csrc/wsfast/mask.c",
                "csrc/wsfast/utf8.c",
            ],
            include_dirs=["csrc/wsfast"],
            depends=[
                "csrc/wsfast/_speedups.pxd",
                "csrc/wsfast/mask.h",
                "csrc/wsfast/utf8.h",
                "csrc/wsfast/cpu.h",
                "csrc/wsfast/frame_slots.h",
            ],
            extra_compile_args=compile_args(),
            extra_link_args=link_args(),
            optional=MODE == "auto",
        )
    )

if MODE != "no":
    # The asyncio connection's per-message path; its pure-Python twin is
    # src/wsfast/asyncio/_core_py.py. Built with the codec or not at all: wsfast.speedups
    # runs pure Python throughout when either is missing.
    ext_modules.append(
        Extension(
            "wsfast.asyncio._core",
            sources=["csrc/wsfast/asyncio/_core.pyx"],
            extra_compile_args=compile_args(),
            extra_link_args=link_args(),
            optional=MODE == "auto",
        )
    )

setup(
    ext_modules=ext_modules,
    cmdclass={"build_ext": BuildExt},
)
