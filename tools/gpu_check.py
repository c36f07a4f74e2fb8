"""`make gpu-check DIR=...`: the one prepared script a lent GPU runs, into one report.

GPU time is lent rarely and briefly, so everything worth learning on a GPU runs from
this one command, within a fixed budget (--budget, 450 s: it must end within 8 minutes
on an H100, compiles included), downloading nothing.  The steps, in order:

    environment   Python, NumPy, CuPy, PyTorch, the GPU (nvidia-smi), compute-sanitizer
    nvrtc         every kernel source compiled for sm_75 and sm_90 (python -m tinygan.kernels.nvrtc)
    gpu-tests     pytest -m gpu: every GPU test (JUnit XML: DIR/gpu-tests.xml)
    memcheck      compute-sanitizer --tool memcheck  over pytest tests/kernels -m gpu
    racecheck     compute-sanitizer --tool racecheck over pytest tests/kernels -m gpu
    kernel-bench  benchmarks/kernels.py: each kernel against the plain CuPy it replaces
    dcgan-step    benchmarks/gpu_dcgan_step.py --batches 64 256: a DCGAN step against PyTorch CUDA
    stylegan-step benchmarks/stylegan_step.py --device cuda: StyleGAN-lite's gpu preset step
                  against its PyTorch twin (target >= 0.7x)
    biggan-step   benchmarks/biggan_step.py --device cuda: BigGAN-lite's gpu preset iteration
                  (2 D steps + 1 G step) against its PyTorch twin (target >= 0.7x); its table
                  goes into the report only (no JSON file: the folder is at its 8 files)
    cyclegan-step benchmarks/cyclegan_step.py --device cuda: CycleGAN-lite's gpu preset step
                  (both generators, then both discriminators) against its PyTorch twin
                  (target >= 0.7x); its table in the report only, as biggan-step's
    stylegan-run  benchmarks/stylegan_short_run.py: 600 steps of the gpu preset, images/s, FID
                  and classifier score (last: it runs only on what is left of the budget)

Each step runs in its own process group with its own timeout (never more than what is
left of the budget); a step that fails or times out is recorded and the next one runs.
The sanitizer runs set TINYGAN_CUDA_MEMORY_POOL=0 so that every array is its own
allocation (inside CuPy's pool an out-of-bounds access would land in pooled memory).
Where there is no GPU, the steps that need one are skipped, and the report says so.

The GPU tests that train a family read MNIST as every test does: $TINYGAN_DATA, the cache,
then a download -- which a lent machine cannot make.  Bring the data in the working tree
(an untracked folder travels with it) and name it, e.g.
``TINYGAN_DATA=gpu-data make gpu-check DIR=...`` with gpu-data/mnist/*.gz; without
$TINYGAN_DATA the script looks in ../shared/data (as .ci/run does) and ./shared/data.

DIR receives (few files: a lent machine sends back at most 8):
    report.md        what ran, how long, the outcome, and each step's key output
    results.json     the same, for programs
    logs.txt         every step's full output, one after another
    gpu-tests.xml    JUnit XML of the GPU tests
    kernels.json, dcgan_step.json    the benchmarks' raw figures

    python tools/gpu_check.py DIR [--budget 450] [--only STEP ...] [--skip STEP ...]
                                  [--timeout STEP=SECONDS ...] [--assume-no-gpu]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 450.0            # 8 minutes on an H100, less a margin for the GPU probe and the report
MIN_STEP_S = 10.0           # a step that would get less than this is skipped for lack of time


@dataclass
class Step:
    """One command of the check.  ``argv`` may hold ``{dir}`` and ``{python}``, filled at run time."""
    name: str
    title: str
    argv: list[str]
    timeout: float
    needs_gpu: bool = True
    needs_program: str | None = None          # an executable that must be on PATH
    env: dict[str, str] = field(default_factory=dict)
    summarize: Callable[["Path", str], str] | None = None   # (DIR, output) -> markdown


@dataclass
class Result:
    name: str
    title: str
    command: str
    status: str                  # passed, FAILED, TIMED OUT, skipped
    seconds: float = 0.0
    returncode: int | None = None
    reason: str = ""
    summary: str = ""


# ---------------------------------------------------------------------------------------
# summaries of the steps' outputs
# ---------------------------------------------------------------------------------------
def junit_summary(xml_path: Path) -> str:
    """'N passed, F failed, E errors, S skipped' from a JUnit XML file, and the failing tests."""
    if not xml_path.is_file():
        return "(no JUnit XML was written)"
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        return f"(unreadable JUnit XML: {exc})"
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    text = (f"{passed} passed, {total['failures']} failed, {total['errors']} errors, "
            f"{total['skipped']} skipped")
    bad = []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                message = (node.get("message") or "").splitlines()[0][:160] if node.get("message") else ""
                bad.append(f"- {kind}: `{case.get('classname')}::{case.get('name')}` {message}")
    skips: dict[str, int] = {}
    for case in root.iter("testcase"):
        node = case.find("skipped")
        if node is not None:
            reason = (node.get("message") or "").strip()[:160]
            skips[reason] = skips.get(reason, 0) + 1
    lines = [text] + bad[:30] + (["- ... and more"] if len(bad) > 30 else [])
    lines += [f"- skipped {n}: {reason}" for reason, n in skips.items()]
    return "\n".join(lines)


def pytest_summary(xml_name: str):
    def summarize(out_dir: Path, output: str) -> str:
        return junit_summary(out_dir / xml_name)
    return summarize


def sanitizer_summary(out_dir: Path, output: str) -> str:
    found = re.findall(r"ERROR SUMMARY: (\d+) error", output)
    tail = [line for line in output.splitlines() if re.search(r"passed|failed|error|no tests ran", line)]
    text = (f"compute-sanitizer ERROR SUMMARY: {found[-1]} errors" if found
            else "no ERROR SUMMARY line (the sanitizer did not finish)")
    return text + ("\n\n```\n" + "\n".join(tail[-5:]) + "\n```" if tail else "")


def table_summary(out_dir: Path, output: str) -> str:
    """A benchmark's printed table: its output without the JSON line."""
    lines = [line for line in output.splitlines() if not line.lstrip().startswith(("{", "["))]
    return "```\n" + "\n".join(lines[-40:]) + "\n```"


def tail_summary(out_dir: Path, output: str) -> str:
    return "```\n" + "\n".join(output.splitlines()[-25:]) + "\n```"


# ---------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------
def default_steps() -> list[Step]:
    pytest = ["{python}", "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rfEs"]
    sanitizer_env = {"TINYGAN_CUDA_MEMORY_POOL": "0"}
    return [
        Step("environment", "Machine, GPU and packages", ["{python}", str(Path(__file__).resolve()), "--probe"],
             timeout=20, needs_gpu=False, summarize=tail_summary),
        Step("nvrtc", "NVRTC compile check, sm_75 and sm_90", ["{python}", "-m", "tinygan.kernels.nvrtc"],
             timeout=40, needs_gpu=False, summarize=tail_summary),
        Step("gpu-tests", "GPU tests (pytest -m gpu)",
             pytest + ["-m", "gpu", "--durations=10", "--junitxml={dir}/gpu-tests.xml"],
             timeout=150, summarize=pytest_summary("gpu-tests.xml")),
        Step("memcheck", "compute-sanitizer memcheck over the kernel GPU tests",
             ["compute-sanitizer", "--tool", "memcheck", "--error-exitcode", "99", "--print-limit", "50"]
             + pytest + ["tests/kernels", "-m", "gpu"],
             timeout=60, needs_program="compute-sanitizer", env=sanitizer_env, summarize=sanitizer_summary),
        Step("racecheck", "compute-sanitizer racecheck over the kernel GPU tests",
             ["compute-sanitizer", "--tool", "racecheck", "--error-exitcode", "99", "--print-limit", "50"]
             + pytest + ["tests/kernels", "-m", "gpu"],
             timeout=60, needs_program="compute-sanitizer", env=sanitizer_env, summarize=sanitizer_summary),
        Step("kernel-bench", "Kernels against the plain CuPy they replace (benchmarks/kernels.py)",
             ["{python}", "benchmarks/kernels.py", "--json", "{dir}/kernels.json"],
             timeout=40, needs_gpu=False, summarize=table_summary),
        Step("dcgan-step", "DCGAN step against PyTorch CUDA (benchmarks/gpu_dcgan_step.py)",
             ["{python}", "benchmarks/gpu_dcgan_step.py", "--batches", "64", "256",
              "--json", "{dir}/dcgan_step.json"],
             timeout=60, summarize=table_summary),
        Step("stylegan-step", "StyleGAN-lite step (gpu preset) against PyTorch CUDA (benchmarks/stylegan_step.py)",
             ["{python}", "benchmarks/stylegan_step.py", "--device", "cuda", "--rounds", "1",
              "--json", "{dir}/stylegan_step.json"],
             timeout=80, summarize=tail_summary),
        # Two timed iterations after a warm-up on each side: the children's start (CUDA; the
        # kernels are in CuPy's cache from gpu-tests by then) is most of its 40 s.  Its cap
        # comes out of stylegan-step's and stylegan-run's (100 -> 80 s, 120 -> 100 s), so the
        # caps sum to what they did before (670 s); the 450 s budget is unchanged.
        Step("biggan-step", "BigGAN-lite iteration (gpu preset) against PyTorch CUDA (benchmarks/biggan_step.py)",
             ["{python}", "benchmarks/biggan_step.py", "--device", "cuda", "--repeat", "2"],
             timeout=40, summarize=tail_summary),
        # Two timed steps after a warm-up on each side, as biggan-step.  Its 40 s come out of
        # dcgan-step's and stylegan-run's caps (80 -> 60 s, 100 -> 80 s), so the caps still
        # sum to 670 s; the 450 s budget is unchanged.
        Step("cyclegan-step", "CycleGAN-lite step (gpu preset) against PyTorch CUDA (benchmarks/cyclegan_step.py)",
             ["{python}", "benchmarks/cyclegan_step.py", "--device", "cuda", "--repeat", "2"],
             timeout=40, summarize=tail_summary),
        Step("stylegan-run", "A 600-step StyleGAN-lite run on the GPU, its images/s, FID and score "
             "(benchmarks/stylegan_short_run.py)",
             ["{python}", "benchmarks/stylegan_short_run.py", "--out", "{dir}/stylegan-run",
              "--steps", "600", "--n", "5000", "--json", "{dir}/stylegan_run.json"],
             timeout=80, summarize=tail_summary),
    ]


# ---------------------------------------------------------------------------------------
# running them
# ---------------------------------------------------------------------------------------
def probe() -> dict:
    """What this machine has: printed as JSON by ``--probe`` (the environment step)."""
    sys.path.insert(0, str(ROOT))
    info: dict = {"python": sys.version.split()[0], "executable": sys.executable,
                  "platform": platform.platform(), "cpus": os.cpu_count()}
    import numpy
    info["numpy"] = numpy.__version__
    from tinygan import backend
    try:
        cp = backend.cupy_module()
    except RuntimeError as exc:
        info["gpu"], info["gpu_reason"] = False, str(exc)
    else:
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        info.update(gpu=True, gpu_name=name.decode() if isinstance(name, bytes) else name,
                    compute_capability=f"{props['major']}.{props['minor']}", cupy=cp.__version__,
                    cuda_runtime=cp.cuda.runtime.runtimeGetVersion(),
                    cuda_driver=cp.cuda.runtime.driverGetVersion())
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    info["compute_sanitizer"] = shutil.which("compute-sanitizer")
    info["TINYGAN_DATA"] = os.environ.get("TINYGAN_DATA")
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=15)
        info["nvidia_smi"] = (out.stdout or out.stderr).strip()
    return info


def gpu_present(python: str, timeout: float = 30) -> tuple[bool, str]:
    """(True, GPU name) when CuPy sees a GPU in a fresh ``python``; else (False, the reason)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from tinygan import backend\n"
            "try:\n cp = backend.cupy_module(); n = cp.cuda.runtime.getDeviceProperties(0)['name']\n"
            " print('yes', n.decode() if isinstance(n, bytes) else n)\n"
            "except RuntimeError as e:\n print('no', e)")
    try:
        out = subprocess.run([python, "-c", code, str(ROOT)], capture_output=True, text=True,
                             timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return False, f"probing for a GPU took over {timeout:.0f} s"
    line = (out.stdout.strip().splitlines() or [f"no {out.stderr.strip()[-300:]}"])[-1]
    answer, _, detail = line.partition(" ")
    return answer == "yes", detail


def _argv(step: Step, out_dir: Path, python: str) -> list[str]:
    return [a.replace("{dir}", str(out_dir)).replace("{python}", python) for a in step.argv]


def run_step(step: Step, out_dir: Path, python: str, timeout: float, log) -> tuple[Result, str]:
    """Run one step in its own process group; kill the group if it outlives ``timeout``."""
    argv = _argv(step, out_dir, python)
    command = " ".join(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               **step.env)
    t = time.perf_counter()
    # Output to a file, not a pipe: a pipe held open by a straggling grandchild would hang the read.
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        sink.seek(0)
        output = sink.read()
    seconds = time.perf_counter() - t
    text = output.decode(errors="replace")
    log.write(f"\n{'=' * 100}\n== {step.name}: {command}\n== {seconds:.1f} s, "
              f"{'timed out' if timed_out else f'exit status {proc.returncode}'}\n{'=' * 100}\n")
    log.write(text[-2_000_000:])
    log.flush()
    if timed_out:
        status, reason = "TIMED OUT", f"killed after {timeout:.0f} s"
    elif proc.returncode == 0:
        status, reason = "passed", ""
    else:
        status, reason = "FAILED", f"exit status {proc.returncode}"
    result = Result(step.name, step.title, command, status, seconds, proc.returncode, reason)
    if step.summarize:
        try:
            result.summary = step.summarize(out_dir, text)
        except Exception as exc:  # a summary is a convenience; the log holds everything
            result.summary = f"(no summary: {type(exc).__name__}: {exc})"
    return result, text


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group this script started for the step, then SIGKILL to what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)        # children that outlived their parent, too
    except ProcessLookupError:
        pass
    proc.wait()


def run_check(out_dir: Path, steps: list[Step], *, budget: float = BUDGET_S, gpu: tuple[bool, str],
              python: str = sys.executable) -> list[Result]:
    """Run ``steps`` in order within ``budget`` seconds; write the report after every step."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    header = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "host": platform.node(), "gpu": gpu[0], "gpu_detail": gpu[1], "budget_s": budget,
              "commit": _commit(), "data": os.environ.get("TINYGAN_DATA")}
    results: list[Result] = []
    with open(out_dir / "logs.txt", "w") as log:
        for step in steps:
            left = budget - (time.perf_counter() - started)
            command = " ".join(_argv(step, out_dir, python))
            if step.needs_gpu and not gpu[0]:
                result = Result(step.name, step.title, command, "skipped", reason="no GPU")
            elif step.needs_program and not shutil.which(step.needs_program):
                result = Result(step.name, step.title, command, "skipped",
                                reason=f"{step.needs_program} is not on PATH")
            elif left < MIN_STEP_S:
                result = Result(step.name, step.title, command, "skipped",
                                reason=f"no time left: {left:.0f} s of the {budget:.0f} s budget")
            else:
                print(f"[gpu-check] {step.name} (up to {min(step.timeout, left):.0f} s) ...", flush=True)
                result, _ = run_step(step, out_dir, python, min(step.timeout, left), log)
            print(f"[gpu-check] {step.name}: {result.status} {result.reason}".rstrip(), flush=True)
            results.append(result)
            write_report(out_dir, header, results, steps, time.perf_counter() - started)
    return results


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")) or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (no git here)"


def write_report(out_dir: Path, header: dict, results: list[Result], steps: list[Step],
                 elapsed: float) -> None:
    done = {r.name for r in results}
    pending = [s.name for s in steps if s.name not in done]
    gpu_skips = [r.name for r in results if r.status == "skipped" and r.reason == "no GPU"]
    lines = [f"# tinygan GPU check, {header['date']}", "",
             f"- host: {header['host']}; commit {header['commit']}",
             f"- data sets: {header['data'] or 'TINYGAN_DATA unset (tests that train on MNIST need it here)'}",
             f"- GPU: {header['gpu_detail'] if header['gpu'] else 'none -- ' + header['gpu_detail']}",
             f"- {elapsed:.0f} s of the {header['budget_s']:.0f} s budget"
             + (f"; not reached yet: {', '.join(pending)}" if pending else ""), ""]
    if gpu_skips:
        lines += [f"**No GPU here ({header['gpu_detail']}).  Skipped for lack of a GPU: "
                  f"{', '.join(gpu_skips)}.**", ""]
    lines += ["| step | outcome | seconds | note |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {r.reason} |")
    for r in results:
        lines += ["", f"## {r.name}: {r.title}", "", f"`{r.command}`", "",
                  f"**{r.status}**" + (f" ({r.reason})" if r.reason else "")
                  + (f", {r.seconds:.1f} s" if r.status != "skipped" else "")]
        if r.summary:
            lines += ["", r.summary]
    lines += ["", "Full output of every step: logs.txt.", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
    (out_dir / "results.json").write_text(json.dumps(
        {**header, "elapsed_s": elapsed, "steps": [r.__dict__ for r in results]}, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", help="the folder for the report")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all the steps")
    ap.add_argument("--only", nargs="+", help="run only these steps")
    ap.add_argument("--skip", nargs="+", default=[], help="leave these steps out")
    ap.add_argument("--timeout", nargs="+", default=[], metavar="STEP=SECONDS",
                    help="another timeout for a step (the budget still caps the whole)")
    ap.add_argument("--assume-no-gpu", action="store_true",
                    help="treat the machine as one without a GPU (to test this script)")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(), indent=1))
        return 0
    if not args.dir:
        ap.error("give the folder for the report: make gpu-check DIR=folder")
    steps = default_steps()
    unknown = (set(args.only or []) | set(args.skip)) - {s.name for s in steps}
    if unknown:
        ap.error(f"unknown step(s) {sorted(unknown)}; the steps are {[s.name for s in steps]}")
    for item in args.timeout:
        name, _, seconds = item.partition("=")
        step = next((s for s in steps if s.name == name), None)
        try:
            value = float(seconds)
        except ValueError:
            value = 0.0
        if step is None or not value > 0:
            ap.error(f"--timeout {item!r}: give STEP=SECONDS with a step of {[s.name for s in steps]}")
        step.timeout = value
    steps = [s for s in steps if (not args.only or s.name in args.only) and s.name not in args.skip]
    if not os.environ.get("TINYGAN_DATA"):
        for folder in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data"):
            if folder.is_dir():
                os.environ["TINYGAN_DATA"] = str(folder)
                break
    gpu = (False, "--assume-no-gpu was given") if args.assume_no_gpu else gpu_present(sys.executable)
    results = run_check(Path(args.dir), steps, budget=args.budget, gpu=gpu)
    print(f"[gpu-check] report: {Path(args.dir) / 'report.md'}")
    return 1 if any(r.status in ("FAILED", "TIMED OUT") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
