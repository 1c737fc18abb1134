"""``repro compare liu2019``: claim verdicts, the protocol constants, and the figures.

No table or figure value of the paper is available (only its abstract is;
papers/liu2019/README.md, "What is known about the paper"):
papers/liu2019/published.csv holds the official code's protocol constants.
Their "measured" column is the value the suite's runs used at this scale,
read from the runs' ``config.json`` (so a deviation from the code shows as a
non-zero delta); constants of a network or dataset the scale does not run
are "no analogue". A constant the code sets on one of its datasets (target
``svhn``) and the suite read from a run on a stand-in shows both in its target
cell, ``svhn (street600)``: the label is applied after pairing, so the keys of
published.csv stay as they are. The claims are judged by the rules of
:mod:`repro.liu2019.claims`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from repro.compare import (
    Comparison, QuantityKey, QuantityRow, judge_claims, load_claims, load_published, load_run_summary,
    quantity_table, read_paper_results)
from repro.liu2019.claims import RULES, Measured
from repro.liu2019.protocol import CUB, EXPERIMENTS, FOOD, PAPER, SCALES, SVHN

PAPER_TARGETS = {"svhn": SVHN.name, "cub200": CUB.name, "food": FOOD.name}
"""published.csv's target names and the paper-scale targets they are (the official code's datasets)."""


def _config(results_dir: Path, experiment: str, measured: Measured) -> dict | None:
    """config.json of the experiment's first run that trained (not reused)."""
    for row in measured.rows.get(experiment, []):
        path = results_dir / "runs" / (row.get("reused") or row["run_key"]) / "config.json"
        if path.is_file():
            return json.loads(path.read_text())
    return None


def _network(config: dict) -> str:
    """The network of a run's config.json (the run description's model spec; ``model.network`` in results
    written before runs were typed descriptions)."""
    spec = config.get("run", {}).get("model")
    if isinstance(spec, dict) and "type" in spec:
        return "lenet" if spec["type"] == "LeNetSpec" else spec["type"]
    return config["model"]["network"]


def _lenet_run(results_dir: Path, measured: Measured) -> dict | None:
    return _config(results_dir, "input_similarity", measured) or _config(results_dir, "deviation", measured)


def protocol_constants(results_dir: Path, measured: Measured) -> dict[QuantityKey, float]:
    """The code's constants as the suite's LeNet runs applied them, keyed like published.csv."""
    out: dict[QuantityKey, float] = {}
    lenet_run = _lenet_run(results_dir, measured)
    if lenet_run and _network(lenet_run) == "lenet":
        schedule = lenet_run["schedule"]
        out[("lr", "", "", "")] = schedule["base_lr"]
        out[("momentum", "", "", "")] = schedule["momentum"]
        out[("weight_decay", "", "", "")] = schedule["weight_decay"]
        out[("batch_size", "lenet", "", "svhn")] = schedule["batch_size"]
        steps_per_epoch = lenet_run["data"]["n_train"] // schedule["batch_size"]
        out[("epochs", "", "", "svhn")] = schedule.get("length", schedule.get("max_iter")) / steps_per_epoch
        out[("train_images", "", "", "svhn")] = lenet_run["data"]["n_train"]
    probe_run = _config(results_dir, "optimization", measured)
    probe = probe_run and (probe_run.get("probe") or probe_run.get("run", {}).get("probe"))
    if probe:
        out[("probe_steps", "", "", "")] = probe["steps"]
        out[("probe_step", "", "", "")] = probe["eta"]
    return {k: float(v) for k, v in out.items() if math.isfinite(float(v))}


def stand_ins(results_dir: Path, measured: Measured) -> dict[str, str]:
    """``{published target: its stand-in}`` for the targets whose constants were read from a run on another
    dataset: the LeNet run's target (mini: ``street600``) for the code's ``svhn``."""
    lenet_run = _lenet_run(results_dir, measured)
    if not lenet_run or _network(lenet_run) != "lenet":
        return {}
    target = lenet_run["data"].get("target", "")
    return {"svhn": target} if target and target != PAPER_TARGETS["svhn"] else {}


def label_stand_ins(rows: list[QuantityRow], stand_in: dict[str, str]) -> list[QuantityRow]:
    """Measured rows of a published target with a stand-in get the target cell ``<target> (<stand-in>)``."""
    return [dataclasses.replace(q, published=dataclasses.replace(
                q.published, target=f"{q.published.target} ({stand_in[q.published.target]})"))
            if q.status == "measured" and q.published.target in stand_in else q for q in rows]


def compare(results_dir: Path, scale: str, *, papers_root: Path | None = None) -> Comparison:
    """Judge the claims on the runs in ``results_dir`` (= results/liu2019/<scale>) and write the report."""
    from repro.liu2019.figures import all_figures

    results_dir = Path(results_dir)
    merged = read_paper_results(results_dir, PAPER, tuple(EXPERIMENTS), scale)
    measured = Measured.from_merged(merged, scale)
    settings = SCALES[scale]
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    notes.append("no figure or table value of the paper is available; published.csv holds the official code's "
                 "protocol constants, and 'measured' is the value the suite's runs used (from their config.json)")
    if scale != "paper":
        notes.append(f"target {settings.feasibility.target.name} stands in for the code's 600 SVHN images; "
                     f"sources by input similarity: {', '.join(settings.input_sources)}; "
                     f"by label relation: {', '.join(settings.label_sources)}")
    stand_in = stand_ins(results_dir, measured)
    notes += [f"target '{t} ({s})': the published value is the official code's on {t}, the measured one the "
              f"suite's run on its stand-in {s} (published.csv's key keeps '{t}'); the constants without a target "
              "(lr, momentum, weight decay, probe) are the code's settings on every dataset, read from the same "
              "runs" for t, s in stand_in.items()]
    quantities = quantity_table(load_published(PAPER, papers_root), protocol_constants(results_dir, measured), merged)
    comparison = Comparison(
        paper=PAPER, scale=scale, results_dir=results_dir,
        quantities=label_stand_ins(quantities, stand_in),
        verdicts=judge_claims(load_claims(PAPER, papers_root), RULES, measured, merged),
        figures=all_figures(results_dir, settings),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
