"""Compiling a .cu with g++ against ``cuda_emulator.h``: the translation unit, the cache.

For a source and its name expressions (``["scale<float>", "scale<double>"]``) this writes one
C++ translation unit::

    #include ".../cuda_emulator.h"
    #include ".../the_kernel.cu"
    extern "C" int tinygan_emu_launch_0(cfg, args, err, errlen)    // per name expression:
        { return tinygan_emu::launch(&(scale<float>), ...); }        //   run it,
    extern "C" const char* tinygan_emu_signature_0()                 //   and say its C
        { return tinygan_emu::signature(&(scale<float>)); }          //   parameter types

and compiles it into a shared library (loaded with ctypes) or, for ThreadSanitizer and
AddressSanitizer, into a standalone executable (see ``sanitizer.py``).  The kernel's parameter types are deduced from its
function pointer by a variadic template in the header, so nothing here parses C.  The execution
model itself (``runtime.cpp``: threads, barriers, schedules) is compiled once per target and
linked to every kernel build, so that a kernel's build parses only the light header.

Builds are cached in ``$TINYGAN_EMULATOR_CACHE`` (default ``~/.cache/tinygan/emulator``) under a
hash of everything that decides the result: the source's, the header's and the runtime's text,
the name expressions, the flags and the compiler's version.  Each build is written under a temporary
name and renamed into place, so test workers compiling the same source at once do not clash.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

HEADER = Path(__file__).with_name("cuda_emulator.h")
RUNTIME = Path(__file__).with_name("runtime.cpp")
KERNELS_DIR = Path(__file__).resolve().parent.parent

# -O1: a build takes about a second and the kernels run fast enough for tests; -std=c++20 for
# std::atomic_ref, std::bit_cast and constinit.  Not -ffast-math: the kernels are compared with
# their NumPy twins, so float arithmetic follows IEEE 754 as NumPy's does (and -std=c++20,
# unlike -std=gnu++20, keeps g++ from fusing a * b + c into an FMA).
FLAGS = ["-std=c++20", "-O1", "-pthread"]
FLAGS_BY_TARGET = {
    "library": ["-shared", "-fPIC"],
    # the standalone executables for the sanitizers (sanitizer.py)
    "thread": ["-g", "-fsanitize=thread"],
    "address": ["-g", "-fsanitize=address", "-fno-omit-frame-pointer"],
}
# The runtime is built once per target: a shared library the kernels' libraries link to, or
# an object file linked into each sanitized executable.
RUNTIME_FLAGS_BY_TARGET = {
    "library": ["-shared", "-fPIC"],
    "thread": ["-g", "-fsanitize=thread", "-c"],
    "address": ["-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-c"],
}


class CompileError(RuntimeError):
    """g++ rejected a kernel source; the message carries the command and g++'s output."""


def resolve_source(source: str | os.PathLike) -> Path:
    """A file name of ``tinygan/kernels/`` (``"bias_act.cu"``) or a path, as an absolute path."""
    text = os.fspath(source)
    path = Path(text) if (os.sep in text or os.path.isabs(text)) else KERNELS_DIR / text
    path = path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"emulator: no CUDA source {text!r} (looked for {path})")
    return path


def compiler() -> str:
    return os.environ.get("CXX", "g++")


@functools.lru_cache(maxsize=None)
def compiler_version(cxx: str) -> str:
    exe = shutil.which(cxx)
    if exe is None:
        raise CompileError(f"emulator: the C++ compiler {cxx!r} was not found (set CXX to a g++ with C++20)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout


def cache_dir() -> Path:
    """``$TINYGAN_EMULATOR_CACHE``, else ``~/.cache/tinygan/emulator``; created if missing."""
    default = Path.home() / ".cache" / "tinygan" / "emulator"
    path = Path(os.environ.get("TINYGAN_EMULATOR_CACHE", default))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CompileError(f"emulator: cannot create the build cache {path} ({e}); "
                           "set TINYGAN_EMULATOR_CACHE to a writable folder") from e
    return path


def translation_unit(source: Path, names: Sequence[str], standalone: bool) -> str:
    """The C++ text that includes the header and the source and exports each name expression."""
    lines = [f'#include "{HEADER}"', f'#include "{source}"', ""]
    for i, name in enumerate(names):
        lines += [
            f"// {name}",
            f'extern "C" int tinygan_emu_launch_{i}(const unsigned long long* cfg, void** args, char* err, '
            f"size_t errlen) {{",
            f"    return tinygan_emu::launch(&({name}), cfg, args, err, errlen);",
            "}",
            f'extern "C" const char* tinygan_emu_signature_{i}() {{ return tinygan_emu::signature(&({name})); }}',
            "",
        ]
    if standalone:
        entries = ", ".join(f'{{"{n}", tinygan_emu_launch_{i}, tinygan_emu_signature_{i}}}'
                            for i, n in enumerate(names))
        lines += [f"static const tinygan_emu::Entry entries[] = {{{entries}}};",
                  "int main(int argc, char** argv) {",
                  f"    return tinygan_emu::standalone_main(argc, argv, entries, {len(names)});",
                  "}"]
    return "\n".join(lines) + "\n"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _compile(out: Path, cmd: list[str], inputs: str, cpp_text: str | None = None) -> Path:
    """Run ``cmd + [cpp, "-o", tmp]`` and rename ``tmp`` to ``out``, unless ``out`` exists.

    ``cpp_text``: the translation unit to write first (None: ``cmd`` names its input)."""
    if out.exists():
        return out
    # Write the TU and the build under names of their own, then rename: atomic for readers, and
    # two processes building the same thing at once each rename a whole file into place.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}-", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp)
    cpp = Path(f"{tmp}.cpp")
    try:
        if cpp_text is not None:
            cpp.write_text(cpp_text)
            cmd = cmd[:1] + [str(cpp)] + cmd[1:]
        cmd = cmd + ["-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            generated = "" if cpp_text is None else f"\n{cpp} (removed) was:\n{cpp_text}"
            raise CompileError(f"emulator: g++ failed to compile {inputs}\n$ {' '.join(cmd)}\n"
                               f"{proc.stdout}{proc.stderr}{generated}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
        if cpp_text is not None:
            os.replace(cpp, out.with_suffix(".cpp"))   # kept beside the build, for a reader who debugs
    finally:
        for leftover in (tmp, cpp):
            if leftover.exists():
                leftover.unlink()
    return out


def runtime(target: str) -> Path:
    """The runtime (runtime.cpp) built for ``target``, from the cache when it is there."""
    cxx = compiler()
    flags = FLAGS + RUNTIME_FLAGS_BY_TARGET[target]
    key = _digest(RUNTIME.read_text(), HEADER.read_text(), " ".join(flags), compiler_version(cxx))
    out = cache_dir() / f"runtime-{key}{'.so' if target == 'library' else '.o'}"
    return _compile(out, [cxx, *flags, f"-I{HEADER.parent}", str(RUNTIME)], "the emulator's runtime.cpp")


def build(source: Path, names: Sequence[str], target: str) -> Path:
    """Compile (or find in the cache) the library / executable for ``names`` of ``source``.

    ``target`` is ``"library"``, or ``"thread"`` / ``"address"`` (the executable built with that
    sanitizer)."""
    cxx = compiler()
    rt = runtime(target)
    flags = FLAGS + FLAGS_BY_TARGET[target]
    tu = translation_unit(source, names, standalone=target != "library")
    key = _digest(tu, HEADER.read_text(), source.read_text(), " ".join(flags), compiler_version(cxx), rt.name)
    out = cache_dir() / f"{source.stem}-{key}{'.so' if target == 'library' else '.' + target}"
    # The runtime by its absolute path: the library records that path and loads it from there.
    return _compile(out, [cxx, *flags, str(rt)], f"{source.name} for {', '.join(names)}", tu)
