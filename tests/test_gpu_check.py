"""scripts/gpu_check.sh --fast: every part runs and the summary reports it (here without a GPU: the GPU parts skip).

About 50 s on 2 idle cores (66 s at load 5): the devices, four tests of tests/test_distribute.py, one ResNet-50
step at batch 2 and one run of the shortest paper's smoke grid, each in its own process.
"""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_fast_runs_every_part_and_summarises(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "REPRO_REQUIRE_GPU")}
    env.update(CUDA_CACHE_PATH=str(tmp_path / "cuda-cache"), TMPDIR=str(tmp_path))
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--fast"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = done.stdout.split("## Summary", 1)[1]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in summary.splitlines()
            if line.startswith("| ") and not line.startswith("| part")}
    assert {"1. devices", "1b. first GPU work", "2. execution-option tests", "3. ResNet-50 step"} <= set(rows), rows
    assert len(rows) == 5 and any(part.startswith("4. ") and part.endswith(" smoke grid") for part in rows), rows
    assert all(status in ("ok", "skipped (no GPU)") for status in rows.values()), rows
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    assert rows["1b. first GPU work"] == ("ok" if gpu else "skipped (no GPU)")
    assert "done: " in done.stdout and "| float32 |" in done.stdout


def test_gpu_check_rejects_unknown_arguments():
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--slow"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "unknown argument" in done.stderr
