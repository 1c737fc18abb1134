"""Would training several small runs in one traced step (replicates side by side) pay on this machine?

    python benchmarks/replicates.py [--rounds 7] [--steps 20] [--threads 1] > benchmarks/results/replicates.md

For each mini network of the suite (the mini CaffeNet ``caffenet_mini(20)``
at batch 128, the Liu LeNet ``LeNetSpec(10)`` at batch 64, the mini ResNet-50
layout at width 8 and batch 128), builds k = 1, 2, 4 independently
initialised copies with their own optimizers (``repro.train.trainer``) and
times, in interleaved rounds, k replicas trained

* ``apart``: one call of each replica's own traced step per step, as one
  worker process trains one run after another;
* ``stacked``: one traced function that calls the k steps (one graph, one
  call from Python per step, what "replicates side by side" would build).

Each replica gets its own fresh batch from numpy at every step (as a run
does), with TensorFlow's intra- and inter-op pools at ``--threads`` (the
suite's default, one thread per run). The table gives images/s of all
replicas together (median over rounds, min-max) and stacked / apart.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per round and arm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--networks", nargs="*", default=["caffenet", "lenet", "resnet"])
    args = parser.parse_args()
    from repro.quiet import quiet_libraries

    quiet_libraries()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from landscape_common import cpu_name, interleaved, markdown_table, source_state, stage, uptime_line
    from repro.models.specs import LeNetSpec, ResNetSpec, caffenet_mini
    from repro.schedule import Schedule
    from repro.train import distribute_batch, reset_optimizer, trainer

    networks = {
        "caffenet": ("mini CaffeNet (caffenet_mini(20), 32x32x1)", caffenet_mini(20), (32, 32, 1), 20, 128, 2.0),
        "lenet": ("LeNet (LeNetSpec(10), 28x28x1)", LeNetSpec(10), (28, 28, 1), 10, 64, 1.0),
        "resnet": ("mini ResNet-50 layout (width 8, 32x32x1)",
                   ResNetSpec((32, 32, 1), 10, width=8, stem="imagenet", blocks=(3, 4, 6, 3)), (32, 32, 1), 10, 128,
                   1.0),
    }
    print("# Replicates side by side in one traced step, against one step per call\n")
    print(f"`python benchmarks/replicates.py --rounds {args.rounds} --steps {args.steps} --threads {args.threads}`\n")
    print(f"- source: {source_state()}\n- CPU: {cpu_name()}; TensorFlow intra and inter op threads: {args.threads}")
    print(f"- uptime at start: `{uptime_line()}`\n")
    rows = []
    rng = np.random.default_rng(0)
    for key in args.networks:
        label, spec, shape, classes, batch, bias_mult = networks[key]
        schedule = Schedule(base_lr=0.01, batch_size=batch, length=10**6, policy="constant", momentum=0.9,
                            weight_decay=5e-4, bias_lr_mult=bias_mult, decay_biases=bias_mult == 1.0)
        pool = [rng.standard_normal((batch, *shape)).astype("float32") for _ in range(8)]
        labels = [rng.integers(0, classes, batch).astype("int32") for _ in range(8)]
        for k in (1, 2, 4):
            with stage(f"{key}: k = {k}"):
                steps = []
                for seed in range(k):
                    model = spec.build(seed=seed)
                    optimizer, step = trainer(model, schedule)
                    reset_optimizer(optimizer)
                    steps.append(step)

                def batches(i):
                    return [distribute_batch((pool[(i + r) % 8], labels[(i + r) % 8], labels[(i + r) % 8]), 1.0)
                            for r in range(k)]

                stacked_step = tf.function(lambda *flat: [s(*flat[4 * r: 4 * r + 4]) for r, s in enumerate(steps)])

                def apart():
                    for i in range(args.steps):
                        losses = [s(*b) for s, b in zip(steps, batches(i))]
                    float(losses[-1])

                def stacked():
                    for i in range(args.steps):
                        losses = stacked_step(*[t for b in batches(i) for t in b])
                    float(losses[-1])

                apart(), stacked()  # trace and warm up
                times = interleaved({"apart": apart, "stacked": stacked}, args.rounds)
                images = k * batch * args.steps
                a, s = images / times["apart"], images / times["stacked"]
                ratio = times["apart"] / times["stacked"]
                rows.append([label, batch, k, f"{np.median(a):,.0f} ({a.min():,.0f}-{a.max():,.0f})",
                             f"{np.median(s):,.0f} ({s.min():,.0f}-{s.max():,.0f})",
                             f"**{np.median(ratio):.2f}** ({ratio.min():.2f}-{ratio.max():.2f})"])
    print(markdown_table(["network", "batch", "replicas k", "apart: images/s", "stacked: images/s",
                          "stacked / apart"], rows))
    print(f"\n- uptime at end: `{uptime_line()}`")


if __name__ == "__main__":
    main()
