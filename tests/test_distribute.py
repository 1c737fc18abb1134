"""tf.distribute strategies, mixed precision and XLA (repro.execution, repro.train).

The distributed runs execute in subprocesses: logical CPU devices and a
multi-worker cluster must be configured before TensorFlow starts its
runtime, which the test process has already done. The reference is the same
short training on one device in this process.
"""
import json
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

import keras

from repro.execution import current, use_execution
from repro.errors import BadArgument

sys.path.insert(0, str(Path(__file__).parent))
import distributed_training as dt  # noqa: E402

SCRIPT = Path(__file__).parent / "distributed_training.py"
ROOT = Path(__file__).parent.parent
TOLERANCE = 1e-5  # replicas sum the same terms in another order


def _env(**extra) -> dict:
    """The environment of the subprocess tests: logical CPU devices and localhost workers, so no GPU.

    Their replicas are CPU devices by design, and one GPU cannot hold two workers' replicas (NCCL refuses
    two ranks on one device); on a GPU machine the reference step of this process runs on the GPU, which the
    comparisons allow for in exact float32 (scripts/gpu_check.sh sets NVIDIA_TF32_OVERRIDE=0).
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", **extra)
    return env


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _tf_configs(count: int) -> list[str]:
    workers = [f"localhost:{port}" for port in _free_ports(count)]
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(count)]


def _run_workers(commands: list[list[str]], configs: list[str], timeout: float = 240) -> list[subprocess.CompletedProcess]:
    processes = [subprocess.Popen(command, env=_env(TF_CONFIG=config), cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                 for command, config in zip(commands, configs)]
    finished = []
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, output))
    return finished


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    return dt.train_under(tmp_path_factory.mktemp("single"), "default")


def _assert_matches(saved: Path, reference: dict, tolerance: float = TOLERANCE) -> dict:
    summary = json.loads((saved / "summary.json").read_text())
    with np.load(saved / "final.npz") as weights:
        for i, expected in enumerate(reference["weights"]):
            np.testing.assert_allclose(weights[f"arr_{i}"], expected, atol=tolerance, rtol=0)
    assert summary["train_loss"] == pytest.approx(reference["train_loss"], abs=tolerance)
    return summary


def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path, single_device):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "mirrored", "--logical-cpus", "2"],
                          env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = _assert_matches(tmp_path, single_device)
    assert summary["replicas"] == 2


def test_multi_worker_mirrored_with_two_local_workers_matches_one_device(tmp_path, single_device):
    outs = [tmp_path / "worker0", tmp_path / "worker1"]
    done = _run_workers([[sys.executable, str(SCRIPT), str(out), "multi_worker_mirrored"] for out in outs],
                        _tf_configs(2))
    for process in done:
        assert process.returncode == 0, process.stdout
    summary = _assert_matches(outs[0], single_device)
    assert summary["replicas"] == 2 and summary["chief"]
    assert not (outs[1] / "final.npz").exists()  # only the chief saves


def test_multi_worker_repro_run_writes_results_only_from_the_chief(tmp_path):
    """Two `repro run` workers of one cluster: one set of rows, the non-chief's mirror removed at the end."""
    command = ["repro", "run", "yosinski2014", "natman", "--scale", "smoke", "--only", "^halfnatmanA$",
               "--strategy", "multi_worker_mirrored", "--out", str(tmp_path)]
    done = _run_workers([command, command], _tf_configs(2))
    for process in done:
        assert process.returncode == 0, process.stdout
        assert "done: 1 runs" in process.stdout
    rows = (tmp_path / "yosinski2014" / "smoke" / "natman.csv").read_text().strip().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[3] == "halfnatmanA"
    assert not (tmp_path / ".workers").exists()


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(BadArgument, match="TF_CONFIG"):
        with use_execution("multi_worker_mirrored"):
            pass


def test_unknown_strategy_and_precision_are_rejected():
    with pytest.raises(BadArgument, match="accepted: default, mirrored"):
        with use_execution("horovod"):
            pass
    with pytest.raises(BadArgument, match="accepted: off, float16, bfloat16"):
        with use_execution("default", "float8"):
            pass


def test_cli_rejects_unknown_strategy():
    done = subprocess.run(["repro", "run", "yosinski2014", "--strategy", "horovod", "--dry-run"], env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--strategy" in done.stderr


@pytest.mark.parametrize("precision, compute_dtype", [("bfloat16", "bfloat16"), ("float16", "float16")])
def test_mixed_precision_trains_on_cpu(tmp_path, single_device, precision, compute_dtype):
    with use_execution("default", precision) as execution:
        assert execution.precision == precision
        model = dt.small_model()
        assert model.get_layer("conv").compute_dtype == compute_dtype
        assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert keras.config.dtype_policy().name == "float32"  # restored on exit
    result = dt.train_under(tmp_path, "default", precision)
    assert np.isfinite(result["train_loss"])
    # low-precision arithmetic, same optimisation: close to the float32 run, not equal
    assert result["train_loss"] == pytest.approx(single_device["train_loss"], abs=0.05)
    for got, expected in zip(result["weights"], single_device["weights"]):
        np.testing.assert_allclose(got, expected, atol=0.05)


def test_float16_uses_dynamic_loss_scaling(tmp_path):
    from repro.train import trainer

    with use_execution("default", "float16"):
        model = dt.small_model()
        optimizer, _ = trainer(model, dt.schedule())
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert float(optimizer.dynamic_scale.numpy()) == optimizer.initial_scale


def test_jit_compile_matches_the_traced_step(tmp_path, single_device):
    result = dt.train_under(tmp_path, "default", jit_compile=True)
    for got, expected in zip(result["weights"], single_device["weights"]):
        np.testing.assert_allclose(got, expected, atol=TOLERANCE)


def _step_devices(**options) -> tuple[set[str], float]:
    """The devices of the variables and of the strategy's replicas when the suite's step runs under ``options``."""
    from repro.train import distribute_batch, trainer

    with use_execution(**options) as execution:
        model = dt.small_model()
        optimizer, step = trainer(model, dt.schedule())
        data = dt.dataset()
        x, y = data.x_train[:dt.BATCH], data.y_train[:dt.BATCH]
        loss = step(*distribute_batch((x, y, y), 1.0))
        devices = {v.value.device for v in model.trainable_variables}
        if execution.distributed:
            devices |= set(execution.strategy.extended.worker_devices)
        else:
            devices.add(loss.device)  # where the step computed its output
    return devices, float(loss)


@pytest.mark.parametrize("options", [dict(), dict(mixed_precision="float16"), dict(jit_compile=True),
                                     dict(strategy="mirrored")], ids=["float32", "float16", "xla", "mirrored"])
def test_the_step_runs_on_the_gpu_where_there_is_one(options):
    """On a GPU machine every execution option puts the model and the step on the GPU.

    Skipped without a GPU, unless REPRO_REQUIRE_GPU=1 (scripts/gpu_check.sh on a machine with one): then a
    TensorFlow that sees no GPU (a CPU-only build, a CUDA mismatch) fails here.
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        if os.environ.get("REPRO_REQUIRE_GPU") == "1":
            pytest.fail("REPRO_REQUIRE_GPU=1 but TensorFlow sees no GPU: is the CUDA build installed (docs/gpu.md)?")
        pytest.skip("no GPU")
    devices, loss = _step_devices(**options)
    assert devices and all("GPU" in device for device in devices), devices
    assert np.isfinite(loss)


def test_outside_use_execution_the_default_applies():
    assert current().strategy_name == "default" and current().replicas == 1 and current().is_chief


def _analyses(model, batches) -> list[float]:
    from repro.landscape.hvp import HessianOperator
    from repro.landscape.smoothness import gradient_norm, variation_of_loss

    operator = HessianOperator(model, batches)
    hv = operator.matvec(np.linspace(-1.0, 1.0, operator.size))
    return [float(np.sum(hv)), float(np.linalg.norm(hv)), gradient_norm(model, batches).estimate,
            variation_of_loss(model, batches, steps=5).estimate]


def test_landscape_analyses_give_the_same_numbers_inside_a_strategy():
    """Hessian-vector products and gradient probes run in the cross-replica context on mirrored variables."""
    data = dt.dataset()
    batches = [(data.x_val, data.y_val)]
    reference = _analyses(dt.small_model(), batches)
    with use_execution("mirrored"):
        measured = _analyses(dt.small_model(), batches)
    np.testing.assert_allclose(measured, reference, rtol=1e-5)
