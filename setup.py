"""Builds wsproto_lite's optional C accelerator; everything else is in pyproject.toml.

The extension (wsproto_lite/_speedups.c) is optional: without a compiler, or when it
fails to build, the install goes on with the pure-Python path and says so in one line
(pip shows a successful build's output only with -v). WSPROTO_LITE_PURE=1 (any
non-empty value) leaves it out on purpose, for the `py3-none-any` wheel:

    pip wheel --no-deps -w dist .                        # cp3XY-<platform>, accelerator inside
    WSPROTO_LITE_PURE=1 pip wheel --no-deps -w dist .    # py3-none-any, pure Python
    pip install -v .                                     # -v shows the line if the build fails

Wheel builds and installs work in a scratch directory, not in build/ and
wsproto_lite.egg-info/ of the source tree: nothing is left behind, and a stale build/
(a module since removed, an old _speedups object) cannot end up in a wheel. Only an sdist
needs the egg-info inside the tree; it is removed again afterwards.
"""

import atexit
import os
import re
import shutil
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext
from setuptools.command.egg_info import egg_info
from setuptools.command.sdist import sdist

PURE = bool(os.environ.get("WSPROTO_LITE_PURE"))
# CPython only: PyPy runs the pure path faster than it runs a C extension through cpyext.
BUILD = not PURE and sys.implementation.name == "cpython"

_scratch_dir = []  # one per setup.py run, made on first use, removed at exit


def _scratch() -> str:
    if not _scratch_dir:
        path = tempfile.mkdtemp(prefix="wsproto_lite-build-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _scratch_dir.append(path)
    return _scratch_dir[0]


class scratch_build(build):
    """build (and bdist_wheel, whose staging directory is under it) in the scratch directory.

    `--build-base` on the command line still wins.
    """

    def initialize_options(self) -> None:
        super().initialize_options()
        self.build_base = os.path.join(_scratch(), "build")


class scratch_egg_info(egg_info):
    """The egg-info in the scratch directory, except for an sdist (it must be in the tree).

    pip's metadata step and setuptools' editable builds set their own directory over this.
    """

    def initialize_options(self) -> None:
        super().initialize_options()
        if "sdist" not in self.distribution.commands:
            self.egg_base = _scratch()


class tidy_sdist(sdist):
    """sdist that removes the egg-info it had to write into the tree.

    A stale egg-info would feed its old SOURCES.txt into the next sdist's file list.
    """

    def run(self) -> None:
        info = self.get_finalized_command("egg_info").egg_info
        existed = os.path.exists(info)
        try:
            super().run()
        finally:
            if not existed:
                shutil.rmtree(info, ignore_errors=True)


class optional_build_ext(build_ext):
    """build_ext that turns a failed build into one line, not a failed install."""

    _said = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no usable compiler at all (e.g. no MSVC on Windows)
            self._say(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler failed on this extension
            self._say(exc)

    def _say(self, exc: Exception) -> None:
        if self._said:
            return
        self._said = True
        # The compiler's own messages are above this line; newer setuptools words a failed
        # compile as the whole command line ("Command '['gcc', ...]' returned non-zero
        # exit status 1."): keep only the program and the status.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        failed = re.match(r"Command '\['([^']*)'.*exit status (-?\d+)", reason)
        if failed:
            reason = "%r exited with status %s" % failed.groups()
        elif len(reason) > 100:
            reason = reason[:97] + "..."
        print(
            "wsproto_lite: the C accelerator was not built (%s); "
            "installing the pure-Python path, which is slower on large messages" % (reason,),
            file=sys.stderr,
            flush=True,
        )


extensions = []
if BUILD:
    extensions.append(
        Extension(
            "wsproto_lite._speedups",
            sources=["wsproto_lite/_speedups.c"],
            extra_compile_args=[] if os.name == "nt" else ["-O3"],
        )
    )

setup(
    ext_modules=extensions,
    cmdclass={
        "build": scratch_build,
        "build_ext": optional_build_ext,
        "egg_info": scratch_egg_info,
        "sdist": tidy_sdist,
    },
)
