"""Benchmarks of the shared landscape and similarity modules (issue 3, item 9).

Usage (from the repository root; each prints a Markdown report on stdout and
progress with the machine load on stderr):

    python benchmarks/landscape.py hvp      # seconds per HVP / seconds per gradient, both HVP modes
    python benchmarks/landscape.py eigen    # HVPs for the top eigenvalue to reach 1e-3 relative
    python benchmarks/landscape.py cka      # minibatch vs full-matrix CKA at 10,000 examples
    python benchmarks/landscape.py surface  # 2-D filter-normalised loss-surface points per second
    python benchmarks/landscape.py profile  # where HVP time goes, per TensorFlow op type
    python benchmarks/landscape.py tape-watch  # HVP tapes watching only the primals vs every accessed variable

``--models`` picks among caffenet (mini CaffeNet, 32x32x1), resnet (ResNet-50
layout, width 16, cifar stem, 32x32x1) and lenet. Data: Fashion-MNIST via
repro.data.arrays.load_arrays. See benchmarks/README.md for what each
figure means and the figures measured on this suite's machine.
"""
from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import landscape_common as common  # noqa: E402  (imports repro, which pins the TensorFlow backend)
from landscape_common import (  # noqa: E402
    build_model,
    environment,
    fashion_mnist,
    interleaved,
    load_average,
    markdown_table,
    median_ratio,
    seconds,
    stage,
    tensor_batches,
    uptime_line,
)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from repro.landscape.directions import random_plane  # noqa: E402
from repro.landscape.eigen import lanczos, power_iteration  # noqa: E402
from repro.landscape.hvp import FlatVariables, HessianOperator, summed_loss  # noqa: E402
from repro.landscape.state import evaluate, sparse_ce  # noqa: E402
from repro.landscape.surfaces import loss_surface  # noqa: E402
from repro import similarity  # noqa: E402


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


# --------------------------------------------------------------------------- 1. HVP / gradient


def _gradient_function(model: keras.Model):
    """Traced per-batch gradient of the summed loss over the trainable variables (float64 outputs, like the HVP)."""
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def batch_gradient(x, y):
        primals = [v.value for v in variables]
        with tf.GradientTape() as tape:
            tape.watch(primals)
            loss = summed_loss(model, sparse_ce, x, y)
        gradient = tape.gradient(loss, primals, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [tf.cast(g, tf.float64) for g in gradient]

    return batch_gradient


def bench_hvp(args) -> str:
    rows, notes = [], []
    x_all, y_all = fashion_mnist("test", args.batch)
    for name in args.models:
        with stage(f"hvp {name}"):
            model = build_model(name, seed=0)
            x, y = tf.constant(x_all), tf.constant(y_all)
            space = FlatVariables(model.trainable_variables)
            batch_gradient = _gradient_function(model)

            def gradient():  # same host path as HessianOperator.matvec: per-variable copy, float64 flatten
                return space.flatten([g.numpy() for g in batch_gradient(x, y)])

            forward = HessianOperator(model, [(x, y)], sparse_ce, mode="forward")
            reverse = HessianOperator(model, [(x, y)], sparse_ce, mode="reverse")
            vector = np.random.default_rng(0).standard_normal(space.size)
            first = {
                "grad": seconds(gradient),
                "forward": seconds(lambda: forward.matvec(vector)),
                "reverse": seconds(lambda: reverse.matvec(vector)),
            }
            products = forward._batch_hvp(x, y, space.split(vector))[0]
            functions = {
                "grad": gradient,
                "forward": lambda: forward.matvec(vector),
                "reverse": lambda: reverse.matvec(vector),
                # the host side of one matvec on one batch: v -> per-variable tensors, products -> float64 vector
                "host": lambda: (space.split(vector), space.flatten([p.numpy() for p in products])),
            }
            load_before = load_average()
            times = interleaved(functions, args.rounds)
            load_after = load_average()
            hv_forward, hv_reverse = forward.matvec(vector), reverse.matvec(vector)
            agreement = np.linalg.norm(hv_forward - hv_reverse) / np.linalg.norm(hv_reverse)
            traces = {"forward": forward._batch_hvp, "reverse": reverse._batch_hvp}
            for mode in ("forward", "reverse"):
                ratio, low, high = median_ratio(times[mode], times["grad"])
                host = np.median(times["host"]) / np.median(times[mode])
                rows.append(
                    [
                        model.name,
                        f"{space.size:,}",
                        args.batch,
                        mode,
                        _fmt(np.median(times["grad"])),
                        _fmt(np.median(times[mode])),
                        f"**{ratio:.2f}** ({low:.2f}-{high:.2f})",
                        f"{100 * host:.1f}%",
                        f"{first['grad']:.1f} / {first[mode]:.1f}",
                        traces[mode].experimental_get_tracing_count(),
                        f"{agreement:.1e}",
                        f"{load_before} -> {load_after}",
                    ]
                )
    header = [
        "model", "params", "batch", "HVP mode", "s/gradient", "s/HVP", "HVP/gradient median (min-max)",
        "host share of HVP", "first call s (grad / HVP)", "traces", "fwd vs rev rel. diff", "load 1/5/15 min",
    ]
    text = [
        f"### HVP cost relative to a gradient (batch of {args.batch} Fashion-MNIST test images, {args.rounds} interleaved rounds)",
        "",
        markdown_table(header, rows),
        "",
        "s/gradient and s/HVP: medians over rounds; the ratio is the median of per-round ratios (gradient and both HVP",
        "modes are timed back to back in each round). HVP = HessianOperator.matvec on a one-batch dataset, gradient =",
        "a traced tape.gradient of the same summed loss with the same host transfer. 'host share' = median seconds of the",
        "host side of a matvec (v split into per-variable tensors, products copied out and flattened to float64) / s/HVP.",
        "'traces' = tracing count of the cached batch HVP function after all calls (1 = no retracing).",
    ]
    if notes:
        text += ["", *[f"- {note}" for note in notes]]
    return "\n".join(text)


# --------------------------------------------------------------------------- 2. eigenvalue convergence


class _Enough(Exception):
    """Raised by the recording operator to end a run once the benchmark has what it needs."""


class RecordingOperator:
    """Caches H v by the bytes of v (so a rerun with the same seed costs no new HVP) and records every new product."""

    def __init__(self, operator: HessianOperator, keep_vectors: bool) -> None:
        self.operator = operator
        self.size = operator.size
        self.keep_vectors = keep_vectors
        self._cache: dict[bytes, np.ndarray] = {}
        self.inputs: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []
        self.rayleigh: list[float] = []  # v^T H v / v^T v of every call, cached or not
        self.seconds: list[float] = []
        self.stop = None  # callable(self) -> bool, checked after every new product

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        key = hashlib.blake2b(np.ascontiguousarray(vector, np.float64).tobytes(), digest_size=20).digest()
        product = self._cache.get(key)
        if product is None:
            start = time.perf_counter()
            product = self.operator.matvec(vector)
            self.seconds.append(time.perf_counter() - start)
            self._cache[key] = product
            if self.keep_vectors:
                self.inputs.append(np.array(vector, copy=True))
                self.outputs.append(product)
        self.rayleigh.append(float(vector @ product / (vector @ vector)))
        if self.stop is not None and self.stop(self):
            raise _Enough
        return product.copy()


def _train_briefly(model: keras.Model, steps: int, batch: int, lr: float) -> tuple[np.ndarray, np.ndarray, float]:
    x, y = fashion_mnist("train", steps * batch)
    keras.utils.set_random_seed(0)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0)
    return x, y, time.perf_counter() - start


def _first_within(errors: "list[float] | np.ndarray", tol: float) -> "int | None":
    """1-based index of the first estimate after which every estimate is within ``tol`` (None if never)."""
    errors = np.asarray(errors)
    for m in range(len(errors)):
        if np.all(errors[m:] <= tol):
            return m + 1
    return None


def _lanczos_run(hessian: HessianOperator, args, seed: int) -> dict:
    """Lanczos from start seed ``seed`` to the reference accuracy; the top Ritz value after every step."""
    operator = RecordingOperator(hessian, keep_vectors=True)
    result = lanczos(operator, 1, order=args.lanczos_order, tol=args.reference_tol, seed=seed)
    # Ritz values after m steps: Rayleigh-Ritz on the recorded Krylov basis, T_m = Q_m^T H Q_m.
    q, hq = np.array(operator.inputs), np.array(operator.outputs)
    top, bottom = [], []
    for m in range(1, len(q) + 1):
        t = q[:m] @ hq[:m].T
        values = np.linalg.eigvalsh((t + t.T) / 2)
        top.append(values[-1])
        bottom.append(values[0])
    operator.keep_vectors = False
    operator.inputs, operator.outputs = [], []
    return {"operator": operator, "result": result, "ritz": np.array(top), "lowest": bottom[-1]}


def _power_run(operator: RecordingOperator, args, seed: int, lam: float) -> np.ndarray:
    """Power iteration from seed ``seed``: its estimate after every HVP, run until it stays within tol of ``lam``.

    Runs at least until the library's own relative-change rule has fired (so a later call with that rule
    is served from the cache), at most ``power_max`` HVPs.
    """
    start = len(operator.rayleigh)

    def stop(op):  # power iteration's estimate at step m is the Rayleigh quotient of its m-th call
        estimates = np.array(op.rayleigh[start:])
        errors = np.abs(estimates - lam) / abs(lam)
        own_rule = len(estimates) >= 2 and np.any(np.abs(np.diff(estimates)) <= args.tol * np.abs(estimates[:-1]))
        return own_rule and len(errors) >= args.hold and np.all(errors[-args.hold :] <= args.tol)

    operator.stop = stop
    try:
        power_iteration(operator, 1, max_iter=args.power_max, tol=0.0, seed=seed)
    except _Enough:
        pass
    operator.stop = None
    return np.array(operator.rayleigh[start:])


def bench_eigen(args) -> str:
    rows, notes = [], []
    for name in args.models:
        steps = args.train_steps[name]
        n_hessian = args.hessian_examples[name]
        with stage(f"eigen {name}: train {steps} SGD steps"):
            model = build_model(name, seed=0)
            x_train, y_train, train_seconds = _train_briefly(model, steps, args.train_batch, args.lr)
        batches = tensor_batches(x_train[:n_hessian], y_train[:n_hessian], args.hessian_batch)
        fit = evaluate(model, batches)
        hessian = HessianOperator(model, batches, sparse_ce, mode=args.mode)
        load_before = load_average()
        with stage(f"eigen {name}: Lanczos references, start seeds {args.seeds}"):
            runs = {seed: _lanczos_run(hessian, args, seed) for seed in args.seeds}
        # The reference is the largest converged top Ritz value over the start vectors.
        lam = max(float(run["result"].eigenvalues[0]) for run in runs.values())
        spread = max(abs(float(run["result"].eigenvalues[0]) - lam) / abs(lam) for run in runs.values())
        residual = max(float(run["result"].residuals[0]) for run in runs.values()) / abs(lam)
        seconds_per_hvp = []
        for seed, run in runs.items():
            operator = run["operator"]
            with stage(f"eigen {name}: seed {seed}: library Lanczos and power iteration (<= {args.power_max} HVPs)"):
                library_lanczos = lanczos(operator, 1, tol=args.tol, seed=seed)
                power = _power_run(operator, args, seed, lam)
                library_power = power_iteration(operator, 1, max_iter=args.power_max, tol=args.tol, seed=seed)
            seconds_per_hvp += operator.seconds
            for method, estimates, library in (("Lanczos", run["ritz"], library_lanczos), ("power", power, library_power)):
                errors = np.abs(estimates - lam) / abs(lam)
                needed = _first_within(errors, args.tol)
                error = abs(float(library.eigenvalues[0]) - lam) / abs(lam)
                rows.append(
                    [
                        model.name, method, seed,
                        f"**{needed}**" if needed is not None else f">{len(errors)}",
                        f"{library.n_hvp} ({'converged' if bool(library.converged[0]) else 'not converged'}), "
                        f"error {error:.1e}",
                    ]
                )
                shown = ", ".join(f"{m + 1}:{e:.0e}" for m, e in enumerate(errors[:60]))
                notes.append(f"{model.name} {method} seed {seed}, relative error by HVP: {shown}")
        load_after = load_average()
        notes.insert(
            len(notes) - 2 * len(runs),
            f"{model.name}: trained {steps} SGD steps of batch {args.train_batch} (lr {args.lr}, momentum 0.9) in "
            f"{train_seconds:.0f} s; Hessian set = the first {n_hessian} training examples (loss {fit.loss:.3f}, "
            f"accuracy {fit.accuracy:.2f}); reference lambda_max = {lam:.6g} (largest Ritz residual / lambda "
            f"{residual:.0e}, spread over start seeds {spread:.0e}); lowest Ritz value {min(r['lowest'] for r in runs.values()):.3g}; "
            f"s/HVP median {np.median(seconds_per_hvp):.2f} over {len(seconds_per_hvp)} distinct HVPs; "
            f"load {load_before} -> {load_after}",
        )
    header = [
        "model", "method", "start seed", f"HVPs until within {args.tol:g} of lambda_max",
        f"library call with tol={args.tol:g}: HVPs spent, its relative error",
    ]
    return "\n".join(
        [
            f"### HVPs for the top Hessian eigenvalue to converge to {args.tol:g} relative (HVP mode {args.mode})",
            "",
            markdown_table(header, rows),
            "",
            "Reference lambda_max: Lanczos (full re-orthogonalisation) from every start seed, each run until its Ritz "
            f"residual ||Hy - theta y|| <= {args.reference_tol:g} |theta| (or {args.lanczos_order} steps), the largest "
            "of the resulting values (a Ritz value's error is at most its residual). 'HVPs until within' = the first step m "
            "after which every estimate stays within the tolerance of lambda_max (Lanczos: top Ritz value of "
            "Q_m^T H Q_m on the recorded Krylov basis; power: the Rayleigh quotient of iterate m, the value "
            "power_iteration returns when stopped there). 'library call' = repro.landscape.eigen.lanczos / power_iteration "
            "with tol as given and their own stopping rules (Lanczos: Ritz residual <= tol |theta|; power: relative "
            "change of the estimate between iterations <= tol). One HVP = one pass over the Hessian set.",
            "",
            *[f"- {note}" for note in notes],
        ]
    )


# --------------------------------------------------------------------------- 3. CKA


CKA_LAYERS = {
    "caffenet": ("relu3", "pool5", "relu7"),
    "resnet": ("layer4_block0_out", "layer4_block2_out", "avgpool"),
    "lenet": ("pool1", "pool2", "fc2"),
}


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def cka_worker(args) -> None:
    """One CKA computation in a fresh process (so its peak RSS is its own); prints one JSON line."""
    name, method, n = args.model, args.method, args.examples
    x, _ = fashion_mnist("test", n)
    layers = CKA_LAYERS[name]
    model_a, model_b = build_model(name, seed=0), build_model(name, seed=1)
    dims = {layer: int(np.prod(model_a.get_layer(layer).output.shape[1:])) for layer in layers}
    if method == "minibatch":
        def run(inputs):
            return similarity.cross_model_cka(model_a, model_b, layers, inputs, batch_size=args.cka_batch)
    else:
        taps_a, taps_b = similarity.feature_taps(model_a, layers), similarity.feature_taps(model_b, layers)
        forward_a = tf.function(lambda batch: taps_a(batch, training=False), reduce_retracing=True)
        forward_b = tf.function(lambda batch: taps_b(batch, training=False), reduce_retracing=True)
        phases = {}

        def features(forward, inputs):
            chunks = [forward(tf.constant(inputs[i : i + args.cka_batch])) for i in range(0, len(inputs), args.cka_batch)]
            return [np.concatenate([chunk[j].numpy() for chunk in chunks]) for j in range(len(layers))]

        def run(inputs):
            start = time.perf_counter()
            fa, fb = features(forward_a, inputs), features(forward_b, inputs)
            phases["features_s"] = time.perf_counter() - start
            start = time.perf_counter()
            values = {layer: similarity.linear_cka(a, b, unbiased=True) for layer, a, b in zip(layers, fa, fb)}
            phases["cka_s"] = time.perf_counter() - start
            return values
    # Warm-up on one batch: tracing and model-building memory is not part of the scaling figure.
    warm_start = time.perf_counter()
    run(x[: args.cka_batch])
    warm_seconds = time.perf_counter() - warm_start
    baseline = _max_rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    values = run(x)
    elapsed = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    used = n - n % args.cka_batch if method == "minibatch" else n
    result = {
        "model": name, "method": method, "examples": used, "seconds": elapsed, "warmup_one_batch_s": warm_seconds,
        "rss_baseline": baseline, "rss_peak": _max_rss_bytes(), "tracemalloc_peak": traced_peak,
        "values": {k: float(v) for k, v in values.items()}, "dims": dims,
    }
    if method == "full":
        result.update(phases)
    print("CKA_RESULT " + json.dumps(result), flush=True)


def bench_cka(args) -> str:
    rows, notes = [], []
    for name in args.models:
        results = {}
        for method in ("minibatch", "full"):
            with stage(f"cka {name} {method} ({args.examples} examples, subprocess)"):
                load_before = load_average()
                command = [
                    sys.executable, os.path.abspath(__file__), "cka-worker", "--model", name, "--method", method,
                    "--examples", str(args.examples), "--cka-batch", str(args.cka_batch),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                lines = [line for line in done.stdout.splitlines() if line.startswith("CKA_RESULT ")]
                if done.returncode != 0 or not lines:
                    raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
                result = json.loads(lines[-1][len("CKA_RESULT "):])
                result["load"] = f"{load_before} -> {load_average()}"
                results[method] = result
        for method, r in results.items():
            extra = ""
            if method == "full":
                extra = f"features {r['features_s']:.1f} s + CKA {r['cka_s']:.1f} s"
            else:
                extra = f"{r['examples'] // args.cka_batch} batches of {args.cka_batch}"
            rows.append(
                [
                    name, method, r["examples"], f"{r['seconds']:.1f}", f"{r['examples'] / r['seconds']:,.0f}", extra,
                    f"{r['warmup_one_batch_s']:.1f}",
                    f"{(r['rss_peak'] - r['rss_baseline']) / 2**20:,.0f}", f"{r['rss_peak'] / 2**20:,.0f}",
                    f"{r['tracemalloc_peak'] / 2**20:,.0f}",
                    ", ".join(f"{layer} {value:.3f}" for layer, value in r["values"].items()), r["load"],
                ]
            )
        dims = results["full"]["dims"]
        notes.append(f"{name}: layers (flattened width) " + ", ".join(f"{k} ({v:,})" for k, v in dims.items()))
    header = [
        "model", "CKA", "examples", "seconds", "examples/s", "split", "one-batch call s", "peak RSS increase MiB",
        "peak RSS MiB",
        "tracemalloc peak MiB", "unbiased linear CKA (seed 0 vs seed 1)", "load 1/5/15 min",
    ]
    return "\n".join(
        [
            f"### Minibatch CKA vs full-matrix CKA at {args.examples:,} examples (cross-model, same layers, 3 layers)",
            "",
            markdown_table(header, rows),
            "",
            "Each row is a separate process. Minibatch = repro.similarity.cross_model_cka (unbiased HSIC accumulated over "
            f"batches of {args.cka_batch}, remainder dropped), forward passes included. Full = features of all examples kept "
            f"(same forward passes), then repro.similarity.linear_cka(unbiased=True) on the n x n Gram matrices (n = {args.examples:,}). "
            "Each process first makes the same call on one batch ('one-batch call s': the fixed cost, mostly tracing), then "
            "the timed call on all examples; cross_model_cka builds its feature taps and traced step anew on every call, so "
            "the timed minibatch call includes one tracing, while the full variant reuses its traced forward functions. "
            "'peak RSS increase' = ru_maxrss after the run minus ru_maxrss after the one-batch call (whole process: "
            "TensorFlow and NumPy); 'tracemalloc peak' = peak of "
            "Python/NumPy allocations during the run (TensorFlow's own buffers are not traced).",
            "",
            *[f"- {note}" for note in notes],
        ]
    )


# --------------------------------------------------------------------------- 4. surface


def bench_surface(args) -> str:
    rows = []
    x, y = fashion_mnist("test", args.surface_examples)
    batches = tensor_batches(x, y, args.eval_batch)
    axes = [np.linspace(-1.0, 1.0, args.grid)] * 2
    for name in args.models:
        with stage(f"surface {name}: {args.grid}x{args.grid} grid, {args.surface_examples} examples"):
            model = build_model(name, seed=0)
            d1, d2 = random_plane(model, seed=0)
            evaluate(model, batches)  # traces the cached evaluation step
            load_before = load_average()
            with tempfile.TemporaryDirectory() as directory:
                counter = iter(range(10**6))

                def saved():
                    return loss_surface(model, batches, (d1, d2), axes, path=os.path.join(directory, f"s{next(counter)}.npz"))

                times = interleaved(
                    {
                        "evaluate": lambda: [evaluate(model, batches) for _ in range(args.grid**2)],
                        "memory": lambda: loss_surface(model, batches, (d1, d2), axes),
                        "saved": saved,
                    },
                    args.repeats,
                )
                size = os.path.getsize(os.path.join(directory, "s0.npz"))
            load_after = load_average()
            points = args.grid**2
            t_eval = float(np.median(times["evaluate"])) / points
            for variant, label in (("memory", "in memory (path=None)"), ("saved", "resumable .npz, flush_every=1")):
                per_point = float(np.median(times[variant])) / points
                share = median_ratio(times["evaluate"], times[variant])[0]
                rows.append(
                    [
                        model.name, f"{d1.norm:.3g} / {d2.norm:.3g}", label, points, f"{per_point:.3f}",
                        f"**{1 / per_point:.2f}**", f"{args.surface_examples / per_point:,.0f}", f"{t_eval:.3f}",
                        f"{100 * share:.0f}%", f"{size / 2**20:.1f}" if variant == "saved" else "",
                        f"{load_before} -> {load_after}",
                    ]
                )
    header = [
        "model", "||d1|| / ||d2||", "variant", "points", "s/point", "points/s", "examples/s", "s per bare evaluate()",
        "evaluate share of a point", ".npz size MiB", "load 1/5/15 min",
    ]
    return "\n".join(
        [
            f"### 2-D filter-normalised loss surface: {args.grid}x{args.grid} grid on [-1, 1]^2, "
            f"{args.surface_examples} Fashion-MNIST test images in batches of {args.eval_batch}",
            "",
            markdown_table(header, rows),
            "",
            "repro.landscape.surfaces.loss_surface with random_plane(model, seed=0) (filter normalisation, 1-D variables "
            f"zeroed), untrained weights (the cost does not depend on them); median of {args.repeats} interleaved repetitions. "
            "'bare evaluate()' = repro.landscape.state.evaluate on the same set at the centre, called once per grid point in "
            "each repetition (same work as the surface minus moving the weights); the rest of a point's cost is building theta + x d1 + y d2 in float64 and assigning it, and (for the "
            "resumable variant) rewriting the .npz with both directions after every point.",
        ]
    )


# --------------------------------------------------------------------------- 5. profile


def _op_seconds(logdir: str, calls: int) -> "tuple[collections.Counter, collections.Counter, float]":
    """Seconds and kernel launches per call by op type, and the traced function's own wall time per call."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals: collections.Counter = collections.Counter()
    launches: collections.Counter = collections.Counter()
    function_seconds = 0.0
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as stream:
            space.ParseFromString(stream.read())
        for plane in space.planes:
            metadata = plane.event_metadata
            for line in plane.lines:
                for event in line.events:
                    label = metadata[event.metadata_id].name
                    if ":" not in label or "::" in label or label.startswith("FunctionRun"):
                        continue
                    op_type = label.rsplit(":", 1)[1].strip()
                    if op_type.startswith("__inference"):
                        function_seconds += event.duration_ps * 1e-12 / calls
                    elif op_type and not op_type.startswith("__"):
                        totals[op_type] += event.duration_ps * 1e-12 / calls
                        launches[op_type] += 1
    return totals, launches, function_seconds


def bench_profile(args) -> str:
    sections, notes = [], []
    x_all, y_all = fashion_mnist("test", args.batch)
    for name in args.models:
        with stage(f"profile {name}"):
            model = build_model(name, seed=0)
            x, y = tf.constant(x_all), tf.constant(y_all)
            variables = model.trainable_variables

            @tf.function
            def batch_gradient(x, y):
                primals = [v.value for v in variables]
                with tf.GradientTape() as tape:
                    tape.watch(primals)
                    loss = summed_loss(model, sparse_ce, x, y)
                return tape.gradient(loss, primals)

            forward = HessianOperator(model, [(x, y)], sparse_ce, mode="forward")
            reverse = HessianOperator(model, [(x, y)], sparse_ce, mode="reverse")
            tangents = forward.space.split(np.random.default_rng(0).standard_normal(forward.size))
            functions = {
                "gradient": lambda: batch_gradient(x, y)[0].numpy(),
                "HVP forward": lambda: forward._batch_hvp(x, y, tangents)[0][0].numpy(),
                "HVP reverse": lambda: reverse._batch_hvp(x, y, tangents)[0][0].numpy(),
            }
            totals, counts, walls = {}, {}, {}
            for label, function in functions.items():
                function()
                function()
                with tempfile.TemporaryDirectory() as logdir:
                    tf.profiler.experimental.start(logdir)
                    for _ in range(args.rounds):
                        function()
                    tf.profiler.experimental.stop()
                    totals[label], counts[label], walls[label] = _op_seconds(logdir, args.rounds)
            kinds = collections.Counter()
            for counter in totals.values():
                kinds.update(counter)
            top = [kind for kind, _ in kinds.most_common(args.top)]
            rows = [
                [kind]
                + [f"{1e3 * totals[label].get(kind, 0.0):.1f} ({counts[label].get(kind, 0) // args.rounds})" for label in functions]
                for kind in top
            ]
            rows.append(["(all op types)"] + [f"{1e3 * sum(totals[label].values()):.1f}" for label in functions])
            rows.append(["(traced function, wall)"] + [f"{1e3 * walls[label]:.1f}" for label in functions])
            rows.append(["(kernels launched per call)"] + [str(sum(counts[label].values()) // args.rounds) for label in functions])
            sections += [
                f"#### {model.name}, batch {args.batch}: kernel ms per call by op type (launches per call) (load {load_average()})",
                "",
                markdown_table(["op type", *functions], rows),
                "",
            ]
    return "\n".join(
        [
            "### Where the time goes: TensorFlow profiler, summed kernel time per op type",
            "",
            "Profiler overhead inflates absolute times; compare columns. Op types are TensorFlow's (oneDNN kernels are "
            "prefixed _Mkl).",
            "",
            *sections,
            *[f"- {note}" for note in notes],
        ]
    )


# --------------------------------------------------------------------------- 6. tape watching


def _explicit_watch_build_hvp(model, loss_fn, variables, mode):
    """repro.landscape.hvp._build_hvp with ``watch_accessed_variables=False`` on every tape (the only change)."""
    zero = tf.UnconnectedGradients.ZERO

    if mode == "forward":

        @tf.function(reduce_retracing=True)
        def batch_hvp(x, y, tangents):
            primals = [v.value for v in variables]
            with tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(primals)
                    loss = summed_loss(model, loss_fn, x, y)
                gradient = tape.gradient(loss, primals, unconnected_gradients=zero)
            products = accumulator.jvp(gradient, unconnected_gradients=zero)
            return [tf.cast(p, tf.float64) for p in products], tf.shape(x)[0]

    else:

        @tf.function(reduce_retracing=True)
        def batch_hvp(x, y, tangents):
            primals = [v.value for v in variables]
            with tf.GradientTape(watch_accessed_variables=False) as outer:
                outer.watch(primals)
                with tf.GradientTape(watch_accessed_variables=False) as inner:
                    inner.watch(primals)
                    loss = summed_loss(model, loss_fn, x, y)
                gradient = inner.gradient(loss, primals, unconnected_gradients=zero)
            products = outer.gradient(gradient, primals, output_gradients=tangents, unconnected_gradients=zero)
            return [tf.cast(p, tf.float64) for p in products], tf.shape(x)[0]

    return batch_hvp


TAPE_CASES = (
    ("lenet", None),
    ("caffenet", None),
    ("caffenet", "conv3"),
    ("caffenet", "fc"),
    ("resnet", None),
    ("resnet", "layer4_block2_conv2"),
)


def _as_is_loss(y_true, logits):
    return sparse_ce(y_true, logits)


def _explicit_loss(y_true, logits):
    return sparse_ce(y_true, logits)


def tape_watch_worker(args) -> None:
    """One (model, filter, variant), printed as one JSON line.

    Variant 'library' or 'explicit': first-call seconds per HVP mode (tracing in a fresh process), or the error.
    Variant 'both': the two variants side by side in one process (distinct loss objects, so separately cached
    traced functions), timed interleaved: the per-round ratio explicit / as is, per mode.
    """
    import repro.landscape.hvp as hvp_module

    library_build = hvp_module._build_hvp
    include = None if args.include == "all" else args.include
    x, y = fashion_mnist("test", args.batch)
    model = build_model(args.model, seed=0)
    batch = [(tf.constant(x), tf.constant(y))]
    result = {}
    for mode in ("forward", "reverse"):
        try:
            if args.variant == "both":
                operators = {}
                for variant, build, loss in (
                    ("library", library_build, _as_is_loss), ("explicit", _explicit_watch_build_hvp, _explicit_loss)
                ):
                    hvp_module._build_hvp = build
                    operators[variant] = HessianOperator(model, batch, loss, include=include, mode=mode)
                hvp_module._build_hvp = library_build
                vector = np.random.default_rng(0).standard_normal(operators["library"].size)
                products = {k: op.matvec(vector) for k, op in operators.items()}
                times = interleaved({k: (lambda op=op: op.matvec(vector)) for k, op in operators.items()}, args.rounds)
                ratio, low, high = median_ratio(times["explicit"], times["library"])
                difference = np.linalg.norm(products["explicit"] - products["library"]) / np.linalg.norm(products["library"])
                result[mode] = {"ratio": ratio, "low": low, "high": high, "difference": float(difference),
                                "library": float(np.median(times["library"]))}
            else:
                if args.variant == "explicit":
                    hvp_module._build_hvp = _explicit_watch_build_hvp
                operator = HessianOperator(model, batch, sparse_ce, include=include, mode=mode)
                vector = np.random.default_rng(0).standard_normal(operator.size)
                result[mode] = {"first": seconds(lambda: operator.matvec(vector))}
        except Exception as error:  # noqa: BLE001  (reported)
            message = str(error).replace("\x1b[1m", "").replace("\x1b[0m", "")
            key = next((line.strip() for line in message.splitlines() if "registry" in line), message.splitlines()[0])
            result[mode] = {"error": key.replace("LookupError: ", "")}
        finally:
            hvp_module._build_hvp = library_build
    print("TAPE_RESULT " + json.dumps(result), flush=True)


def bench_tape_watch(args) -> str:
    rows = []
    for model_name, include in TAPE_CASES:
        if model_name not in args.models:
            continue
        results = {}
        for variant in ("library", "explicit", "both"):
            with stage(f"tape-watch {model_name} include={include} {variant} (subprocess)"):
                load_before = load_average()
                command = [
                    sys.executable, os.path.abspath(__file__), "tape-watch-worker", "--model", model_name,
                    "--include", include or "all", "--variant", variant, "--batch", str(args.batch),
                    "--rounds", str(args.rounds),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                lines = [line for line in done.stdout.splitlines() if line.startswith("TAPE_RESULT ")]
                if done.returncode != 0 or not lines:
                    raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
                results[variant] = (json.loads(lines[-1][len("TAPE_RESULT "):]), f"{load_before} -> {load_average()}")
        for mode in ("forward", "reverse"):
            cells = [model_name, include or "(all)", mode]
            for variant in ("library", "explicit"):
                r = results[variant][0][mode]
                cells.append(f"fails: `{r['error']}`" if "error" in r else f"{r['first']:.2f}")
            r = results["both"][0][mode]
            if "error" in r:
                cells += ["", ""]
            else:
                cells += [f"{r['library']:.3f}", f"**{r['ratio']:.2f}** ({r['low']:.2f}-{r['high']:.2f})", f"{r['difference']:.0e}"]
            cells.append(" ; ".join(load for _, load in results.values()))
            rows.append(cells)
    header = [
        "model", "variables", "HVP mode", "first call s, as is", "first call s, primals only", "s/HVP as is",
        "s/HVP primals only / as is, median (min-max)", "relative difference of Hv", "load 1/5/15 min (3 processes)",
    ]
    return "\n".join(
        [
            f"### GradientTape(watch_accessed_variables=False) in the HVP (batch of {args.batch})",
            "",
            markdown_table(header, rows),
            "",
            "'as is' = repro/landscape/hvp.py, whose tapes use the default watch_accessed_variables=True (every trainable "
            "variable the forward pass reads is recorded, whatever the variable filter). 'watching only the primals' = "
            "the same code with watch_accessed_variables=False on every tape (benchmarks/landscape.py "
            "_explicit_watch_build_hvp). 'first call' (tracing plus one HVP) is measured in a fresh process per variant, "
            "because TensorFlow caches per-op forward-mode traces process-wide. The steady-state ratio and the difference "
            "of the products come from a third process holding both variants, timed in "
            f"{args.rounds} interleaved rounds.",
        ]
    )


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)

    def models_arg(p, default):
        p.add_argument("--models", nargs="+", choices=common.MODELS, default=list(default))

    p = sub.add_parser("hvp", help="seconds per HVP / seconds per gradient on one batch, both modes")
    models_arg(p, ("caffenet", "resnet", "lenet"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=7)

    p = sub.add_parser("eigen", help="HVPs for the top eigenvalue to converge (Lanczos, power iteration)")
    models_arg(p, ("caffenet", "resnet"))
    p.add_argument("--train-steps", type=int, default=None, help="SGD steps (default: caffenet 300, resnet 200)")
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--hessian-examples", type=int, default=None, help="default: caffenet 256, resnet 128")
    p.add_argument("--hessian-batch", type=int, default=128)
    p.add_argument("--mode", choices=("forward", "reverse"), default="forward")
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--reference-tol", type=float, default=1e-6)
    p.add_argument("--lanczos-order", type=int, default=40)
    p.add_argument("--power-max", type=int, default=60)
    p.add_argument("--hold", type=int, default=3, help="power: stop after this many estimates within tol")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="start-vector seeds")

    p = sub.add_parser("cka", help="minibatch vs full-matrix CKA: throughput and peak memory")
    models_arg(p, ("caffenet", "resnet"))
    p.add_argument("--examples", type=int, default=10_000)
    p.add_argument("--cka-batch", type=int, default=256)

    p = sub.add_parser("cka-worker", help=argparse.SUPPRESS)
    p.add_argument("--model", choices=common.MODELS, required=True)
    p.add_argument("--method", choices=("minibatch", "full"), required=True)
    p.add_argument("--examples", type=int, required=True)
    p.add_argument("--cka-batch", type=int, required=True)

    p = sub.add_parser("surface", help="2-D filter-normalised loss-surface points per second")
    models_arg(p, ("caffenet", "resnet"))
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--surface-examples", type=int, default=512)
    p.add_argument("--eval-batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)

    p = sub.add_parser("profile", help="kernel time per TensorFlow op type: gradient vs both HVP modes")
    models_arg(p, ("caffenet", "resnet", "lenet"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--top", type=int, default=12)

    p = sub.add_parser("tape-watch", help="HVP tapes watching only the primals vs all accessed variables")
    models_arg(p, ("caffenet", "resnet", "lenet"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)

    p = sub.add_parser("tape-watch-worker", help=argparse.SUPPRESS)
    p.add_argument("--model", choices=common.MODELS, required=True)
    p.add_argument("--include", required=True)
    p.add_argument("--variant", choices=("library", "explicit", "both"), required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)

    args = parser.parse_args(argv)
    if args.bench == "tape-watch-worker":
        tape_watch_worker(args)
        return
    if args.bench == "cka-worker":
        cka_worker(args)
        return
    if args.bench == "eigen":
        steps, examples = args.train_steps, args.hessian_examples
        args.train_steps = {"caffenet": 300, "resnet": 200, "lenet": 300} if steps is None else dict.fromkeys(common.MODELS, steps)
        args.hessian_examples = (
            {"caffenet": 256, "resnet": 128, "lenet": 256} if examples is None else dict.fromkeys(common.MODELS, examples)
        )
    started = time.perf_counter()
    machine = environment()
    command = "python benchmarks/landscape.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "hvp": bench_hvp, "eigen": bench_eigen, "cka": bench_cka, "surface": bench_surface, "profile": bench_profile,
        "tape-watch": bench_tape_watch,
    }[args.bench](args)
    print(f"## `{command}`\n")
    print(machine)
    print(f"- uptime at end: `{uptime_line()}`; wall time of the command {time.perf_counter() - started:.0f} s\n")
    print(report)


if __name__ == "__main__":
    main()
