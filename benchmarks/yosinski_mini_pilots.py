"""Calibration pilots behind the Yosinski mini scale (papers/yosinski2014/README.md).

    python benchmarks/yosinski_mini_pilots.py [--task 0B] [--out /tmp/yosinski-pilots]

Trains the base net of one mini task (default 0B: the harder half of split 0)
under protocol variants and prints a Markdown table: does it learn, is it
converged under the schedule, what does one run cost. Variants:

* ``mini``                 -- the mini preset of repro/yosinski2014/protocol.py;
* ``mini, 2x iterations``  -- twice as many iterations (each lr phase twice as long):
  if the mini schedule had not converged the base net, this would be better;
* ``crop + mirror``        -- with the paper's augmentation (2-px pad, random 32 crop, mirror),
  at 1x and 2x iterations;
* ``paper init``           -- the paper's Gaussian sigma 0.01 / bias 1 fillers;
* ``lr 0.01``              -- the paper's base learning rate.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

from repro.models.specs import caffenet_paper
from repro.train import TrainData, train
from repro.yosinski2014.protocol import MINI_SCALE, TaskData


def task_data(task: str) -> TaskData:
    """The data spec of ``task`` ('0B', 'natmanA', 'whole') at the mini scale, as the grid's base nets use it."""
    s = MINI_SCALE
    return TaskData(s.dataset, task, s.n_classes, s.train_per_class, s.val_per_class, s.crop_pad, s.mirror,
                    batch_size=s.schedule.batch_size)


def variants():
    """(name, model spec, schedule, augmented) of every pilot; the schedules count iterations."""
    mini = MINI_SCALE.schedule
    spec = MINI_SCALE.model(MINI_SCALE.n_classes)
    paper_init = dataclasses.replace(spec, inits=caffenet_paper().inits)
    longer = dataclasses.replace(mini, length=2 * mini.length, step_size=2 * mini.step_size,
                                 eval_every=2 * mini.eval_every)
    return [
        ("mini", spec, mini, False),
        ("mini, 2x iterations", spec, longer, False),
        ("crop + mirror", spec, mini, True),
        ("crop + mirror, 2x iterations", spec, longer, True),
        ("paper init (sigma 0.01, bias 1)", paper_init, mini, False),
        ("lr 0.01", spec, dataclasses.replace(mini, base_lr=0.01), False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="0B")
    parser.add_argument("--out", default="/tmp/yosinski-pilots", type=Path)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    data, config = task_data(args.task).load(None)
    augmented = TrainData(data.x_train, data.y_train, data.x_val, data.y_val, crop_pad=2, mirror=True)
    classes = config["split"]["classes"] if args.task == "whole" else config["split"][f"classes_{args.task[-1].lower()}"]
    print(f"task {args.task}: classes {classes}, "
          f"{config['n_train']} training / {config['n_val']} validation images\n")
    print("| variant | iterations | final val acc | mean of 10 best | final train loss | seconds |")
    print("|---|---|---|---|---|---|")
    for index, (name, spec, schedule, augment) in enumerate(variants()):
        schedule = schedule.resolve(data.n_train)
        model = spec.build(seed=1)
        start = time.time()
        result = train(model, augmented if augment else data, schedule, args.out / str(index), data_seed=1)
        print(f"| {name} | {schedule.max_iter} | {result.acc_final:.4f} | {result.acc_top_k_mean:.4f} | "
              f"{result.train_loss_final:.3f} | {time.time() - start:.1f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
