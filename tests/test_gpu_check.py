"""`make gpu-check` (tools/gpu_check.py) runs to the end and writes one report, on any machine.

The runner is tested with quick stand-in steps (one passes, one fails, one outlives its
timeout, one needs a GPU, one a program that is missing, one finds the budget spent); the real
script is then run end to end as on a machine without a GPU (--assume-no-gpu, so that this test
stays quick on a GPU machine too): the steps that need a GPU must be reported as skipped for
that reason, and the others must run.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
sys.modules["gpu_check"] = gpu_check          # (dataclasses look their module up by name)
spec.loader.exec_module(gpu_check)
Step = gpu_check.Step


def py(code: str) -> list[str]:
    return ["{python}", "-c", code]


def test_steps_pass_fail_time_out_and_skip_and_the_report_says_which(tmp_path):
    steps = [
        Step("ok", "a step that passes", py("print('all fine here')"), timeout=30, needs_gpu=False,
             summarize=gpu_check.tail_summary),
        Step("broken", "a step that fails", py("import sys; print('bad news'); sys.exit(3)"),
             timeout=30, needs_gpu=False),
        # the step's child process must die with it (the whole process group is killed)
        Step("slow", "a step that hangs", py("import subprocess, sys; print('child', subprocess.Popen("
                                             "[sys.executable, '-c', 'import time; time.sleep(60)']).pid, "
                                             "flush=True); import time; time.sleep(60)"),
             timeout=2, needs_gpu=False),
        Step("on-gpu", "needs a GPU", py("print('ran')"), timeout=30),
        Step("sanitize", "needs a program", ["no-such-program-here", "x"], timeout=30, needs_gpu=False,
             needs_program="no-such-program-here"),
        Step("after", "runs once the budget is spent", py("print('late')"), timeout=30, needs_gpu=False),
    ]
    t = time.perf_counter()
    results = gpu_check.run_check(tmp_path, steps, budget=12, gpu=(False, "no CuPy (test)"))
    assert time.perf_counter() - t < 30
    status = {r.name: (r.status, r.reason) for r in results}
    assert status["ok"] == ("passed", "")
    assert status["broken"] == ("FAILED", "exit status 3")
    assert status["slow"][0] == "TIMED OUT"
    assert status["on-gpu"] == ("skipped", "no GPU")
    assert status["sanitize"] == ("skipped", "no-such-program-here is not on PATH")
    assert status["after"][0] == "skipped" and "no time left" in status["after"][1], status

    report = (tmp_path / "report.md").read_text()
    assert "No GPU here (no CuPy (test)).  Skipped for lack of a GPU: on-gpu." in report
    for row in ("| ok | passed |", "| broken | FAILED |", "| slow | TIMED OUT |", "| on-gpu | skipped |"):
        assert row in report, report
    assert "all fine here" in report                      # the step's summary
    logs = (tmp_path / "logs.txt").read_text()
    assert "bad news" in logs and "== broken:" in logs and "timed out" in logs
    child = int(next(line.split()[1] for line in logs.splitlines() if line.startswith("child ")))
    time.sleep(0.5)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    data = json.loads((tmp_path / "results.json").read_text())
    assert [s["status"] for s in data["steps"]] == ["passed", "FAILED", "TIMED OUT", "skipped", "skipped", "skipped"]


def test_junit_summary_counts_and_names_the_failures(tmp_path):
    (tmp_path / "r.xml").write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="0" skipped="1">'
        '<testcase classname="t" name="a"/><testcase classname="t" name="b">'
        '<failure message="assert 1 == 2">trace</failure></testcase>'
        '<testcase classname="t" name="c"><skipped message="needs CuPy"/></testcase>'
        '<testcase classname="t" name="d"/></testsuite></testsuites>')
    text = gpu_check.junit_summary(tmp_path / "r.xml")
    assert text.splitlines()[0] == "2 passed, 1 failed, 0 errors, 1 skipped"
    assert "`t::b` assert 1 == 2" in text and "skipped 1: needs CuPy" in text
    assert "no JUnit XML" in gpu_check.junit_summary(tmp_path / "missing.xml")


def test_sanitizer_summary_reads_the_error_count():
    assert "ERROR SUMMARY: 2 errors" in gpu_check.sanitizer_summary(Path("."), "x\n========= ERROR SUMMARY: 2 errors\n")
    assert "did not finish" in gpu_check.sanitizer_summary(Path("."), "killed")


def test_the_script_runs_to_the_end_without_a_gpu(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), str(tmp_path / "r"),
                          "--assume-no-gpu"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    report = (tmp_path / "r" / "report.md").read_text()
    assert ("Skipped for lack of a GPU: gpu-tests, memcheck, racecheck, dcgan-step, stylegan-step, "
            "biggan-step, cyclegan-step, stylegan-run." in report), report
    for step in ("environment", "nvrtc", "kernel-bench"):
        assert f"| {step} | passed |" in report, report
    assert "ok  scale.cu" in report                        # the NVRTC check's lines
    assert "Nothing timed -- no GPU" in report             # the kernel benchmark frame, without a GPU
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["kernels.json", "logs.txt", "report.md",
                                                                  "results.json"]


def test_unknown_step_names_are_refused():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "/tmp/unused", "--skip", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown step(s) ['nope']" in out.stderr


def test_the_make_target_wants_a_dir():
    out = subprocess.run(["make", "-s", "gpu-check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "make gpu-check DIR=" in out.stderr


def test_a_steps_timeout_can_be_changed_and_a_bad_one_is_refused(tmp_path):
    script = str(ROOT / "tools" / "gpu_check.py")
    out = subprocess.run([sys.executable, script, str(tmp_path), "--assume-no-gpu", "--only", "environment",
                          "--timeout", "environment=0.01"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "| environment | TIMED OUT |" in (tmp_path / "report.md").read_text()
    for bad in ("nope=3", "nvrtc=x", "nvrtc=-1"):
        out = subprocess.run([sys.executable, script, str(tmp_path), "--timeout", bad],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "give STEP=SECONDS" in out.stderr, (bad, out.stderr)


def test_the_gpu_probe_reads_cupys_answer(tmp_path, monkeypatch):
    """A stub CuPy package that sees a GPU: the probe names it; without the stub, no GPU."""
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(
        "import types\nis_available = lambda: True\n"
        "cuda = types.SimpleNamespace(runtime=types.SimpleNamespace("
        "getDeviceProperties=lambda i: {'name': b'Stub GPU 80GB'}), set_allocator=lambda a: None)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert gpu_check.gpu_present(sys.executable) == (True, "Stub GPU 80GB")
    (tmp_path / "cupy" / "__init__.py").write_text("is_available = lambda: False\n")
    found, why = gpu_check.gpu_present(sys.executable)
    assert not found and "no usable GPU" in why, why


def test_the_biggan_step_is_declared_within_the_old_caps():
    """BigGAN-lite's side-by-side iteration runs on CUDA before the StyleGAN-lite run, and the
    steps' caps together stay at most what they were before it came (670 s; the budget, 450 s,
    bounds the whole anyway)."""
    steps = {s.name: s for s in gpu_check.default_steps()}
    names = list(steps)
    step = steps["biggan-step"]
    assert step.needs_gpu and step.argv[1] == "benchmarks/biggan_step.py"
    assert step.argv[step.argv.index("--device") + 1] == "cuda"
    assert names.index("stylegan-step") < names.index("biggan-step") < names.index("stylegan-run")
    assert sum(s.timeout for s in steps.values()) <= 670
    assert gpu_check.BUDGET_S == 450


def test_the_cyclegan_step_is_declared_within_the_old_caps():
    """CycleGAN-lite's side-by-side step runs on CUDA after BigGAN-lite's and before the
    StyleGAN-lite run; the caps together still sum to at most 670 s (dcgan-step's and
    stylegan-run's were shortened by 20 s each to make room for its 40 s)."""
    steps = {s.name: s for s in gpu_check.default_steps()}
    names = list(steps)
    step = steps["cyclegan-step"]
    assert step.needs_gpu and step.argv[1] == "benchmarks/cyclegan_step.py"
    assert step.argv[step.argv.index("--device") + 1] == "cuda"
    assert "--preset" not in step.argv                     # cuda's default: the gpu preset
    assert names.index("biggan-step") < names.index("cyclegan-step") < names.index("stylegan-run")
    assert step.timeout == 40
    assert sum(s.timeout for s in steps.values()) <= 670
    assert gpu_check.BUDGET_S == 450
