"""TensorBoard events of the runs: what training writes, rebuilt from the files a results tree keeps.

TensorBoard's run names are the run directories relative to the log root, so
each run writes its events straight into ``runs/<run key>/`` and its name is
its key. The scalars of an evaluation (:func:`evaluation_scalars`) are the
columns of its ``metrics.csv`` row; a per-step probe's rows (``steps.csv``)
are ``step/<column>``. The grid's HParams declaration and the paper's figures
(``repro compare``) go to the run ``runs/figures``.

A results tree whose runs kept their ``metrics.csv`` but not their events
(results made before the events were committed, shard directories merged by
hand) gets them back with ``repro events PAPER --scale S --out DIR``
(:func:`rebuild`): the same scalars, the HParams of every run and the
figures, from the files alone; the run directories' old event files are
replaced.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

FIGURES_RUN = "figures"
SCALARS = (("train/loss", "train_loss"), ("eval/accuracy", "val_acc"), ("eval/loss", "val_loss"),
           ("train/learning_rate", "lr"), ("train/accuracy_eval_mode", "train_acc"))


def evaluation_scalars(row: dict) -> dict[str, float]:
    """The TensorBoard scalars of one ``metrics.csv`` row (an empty cell is no scalar)."""
    return {tag: float(row[column]) for tag, column in SCALARS if row.get(column) not in ("", None)}


def write_scalars(writer, rows: Iterable[dict], probe_rows: Iterable[dict] = (), probe_fields: Sequence[str] = ()):
    """Write evaluation rows and probe rows with ``writer`` (a ``tf.summary`` writer)."""
    import tensorflow as tf

    with writer.as_default():
        for row in probe_rows:
            for name in probe_fields:
                tf.summary.scalar(f"step/{name}", float(row[name]), step=int(row["step"]))
        for row in rows:
            for tag, value in evaluation_scalars(row).items():
                tf.summary.scalar(tag, value, step=int(row["step"]))
    writer.flush()


def write_figures(runs_dir: Path, figures: Sequence[Path]) -> None:
    """The paper's figures as images of the run ``figures`` (one image per PNG, named by its file)."""
    import tensorflow as tf

    if not figures:
        return
    directory = Path(runs_dir) / FIGURES_RUN
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("events.out.tfevents.*.images"):
        old.unlink()
    writer = tf.summary.create_file_writer(str(directory), filename_suffix=".images")
    with writer.as_default():
        for path in figures:
            image = tf.io.decode_png(Path(path).read_bytes(), channels=4)
            tf.summary.image(f"figures/{Path(path).stem}", image[None], step=0)
    writer.close()


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def rebuild(paper, scale: str, out: Path, figures: Sequence[Path] = ()) -> int:
    """Rewrite the events of every run of ``paper`` at ``scale`` under ``out`` that has a directory; returns how
    many runs got events. Nothing is trained or recomputed."""
    import tensorflow as tf

    from repro.hparams import write_grid_config, write_run_hparams
    from repro.runner import grid_runs, hparam_axes, workspace_for

    workspace = workspace_for(paper, scale, out, printer=lambda line: None)
    axes = hparam_axes(workspace)
    write_grid_config(workspace.layout.runs_dir / FIGURES_RUN, axes, grid_runs(workspace))
    count = 0
    for run in workspace.index.values():
        run_dir = workspace.run_dir(run.key)
        if not run_dir.is_dir() or run.home is not None:  # another paper's run: its own paper rebuilds it
            continue
        for old in list(run_dir.glob("events.out.tfevents.*")) + list(run_dir.glob("tb/events.out.tfevents.*")):
            old.unlink()
        if (run_dir / "tb").is_dir() and not any((run_dir / "tb").iterdir()):
            (run_dir / "tb").rmdir()
        metrics, steps = _rows(run_dir / "metrics.csv"), _rows(run_dir / "steps.csv")
        if metrics or steps:
            writer = tf.summary.create_file_writer(str(run_dir))
            write_scalars(writer, metrics, steps, [c for c in (steps[0] if steps else {}) if c != "step"])
            writer.close()
        if run.experiment is not None:
            write_run_hparams(run_dir, run, axes)
        count += 1
    write_figures(workspace.layout.runs_dir, figures)
    return count
