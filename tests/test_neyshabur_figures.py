"""Neyshabur 2020 figures from a tiny synthetic results directory (no training, no model)."""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

from repro.compare import load_published
from repro.neyshabur2020 import figures, protocol
from repro.runs import AnalysisRun
from repro.schedule import Chosen
from repro.store import append_row

PAPER = protocol.PAPER_ENTRY

TARGETS = protocol.MINI.targets[:2]
EPOCHS = 10
EXPECTED = {"figure2.png", "figure3.png", "figure4.png", "table1_cka.png", "figure5.png", "figure6.png",
            "figure7.png", "distances_per_module.png"}


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _row(scale_dir: Path, experiment: str, run_key: str, condition: str, target: str, **values) -> None:
    identity = dict(paper="neyshabur2020", experiment=experiment, scale="mini", run_key=run_key, condition=condition,
                    target=target)
    append_row(scale_dir / f"{experiment}.csv", {**identity, **values}, PAPER.experiment(experiment).fields)


def _spec_row(scale_dir: Path, run, **values) -> None:
    identity = dict(paper="neyshabur2020", experiment=run.experiment, scale="mini", run_key=run.key)
    append_row(scale_dir / f"{run.experiment}.csv", {**identity, **dict(run.axes), **values},
               PAPER.experiment(run.experiment).fields)


def _specs(experiment: str) -> list:
    """The mini grid of ``experiment`` restricted to the two test targets."""
    names = {t.name for t in TARGETS}
    return [r for r in protocol.grid(experiment, "mini") if r.axis("target") in names]


def _metrics(scale_dir: Path, run_key: str, final: float, rng: np.random.Generator) -> None:
    rows = []
    for epoch in range(1, EPOCHS + 1):
        acc = final * (1 - np.exp(-epoch / 3)) + rng.normal(0, 0.01)
        rows.append(dict(step=epoch * 10, epoch=float(epoch), lr=0.01, train_loss=1.0 / epoch, val_loss=1.2 / epoch,
                         val_acc=acc, train_acc=min(1.0, acc + 0.1), seconds=epoch))
    _write_csv(scale_dir / "runs" / run_key / "metrics.csv", rows)


CHOSEN = {"P-T": 0.02, "RI-T": 0.1}


def _lr(run) -> float:
    """The nominal lr of a training run (a chosen one as :data:`CHOSEN` says), or of an analysed run."""
    if isinstance(run, AnalysisRun):
        return CHOSEN[run.axis("arm")] if "chosen" in run.key else float(run.key.rsplit("lr", 1)[1])
    lr = run.schedule.base_lr
    return CHOSEN[run.axis("arm")] if isinstance(lr, Chosen) else float(lr)


def _synthetic_results(scale_dir: Path) -> None:
    """Rows (and run files) for every run of the mini grid at two targets, with a few holes."""
    rng = np.random.default_rng(0)
    second = TARGETS[1].name

    # learning_curves (Figure 2): runs, the lr choices, the same-init RI-T run; one run without its directory
    for spec in _specs("learning_curves"):
        arm = spec.axis("arm")
        if isinstance(spec, AnalysisRun):
            _spec_row(scale_dir, spec, chosen_lr=CHOSEN[arm])
            continue
        lr = _lr(spec)
        final = (0.85 if arm == "P-T" else 0.6) - (0.1 if lr == 0.1 else 0.0)
        _spec_row(scale_dir, spec, lr=lr, test_acc_final=final, train_acc_mean=final + 0.05, epochs=EPOCHS)
        if spec.key != protocol.lc_key("RI-T", second, 0.02, 2):
            _metrics(scale_dir, spec.key, final, rng)

    # block_shuffle (Figure 3); the full-image run reuses a learning-curve run
    for spec in _specs("block_shuffle"):
        arm, block = spec.axis("arm"), spec.axis("block")
        full = block == protocol.MINI.full_block
        size = 0.2 if block == protocol.PIXEL_SHUFFLE else int(block) / 32
        acc = (0.3 + 0.5 * size) if arm == "P-T" else (0.2 + 0.35 * size)
        _spec_row(scale_dir, spec, lr=_lr(spec), test_acc_final=acc, train_acc_mean=acc + 0.1,
                  reused=protocol.lc_key(arm, spec.axis("target"), _lr(spec), 1) if full else "")

    # checkpoints (Figure 7); the final checkpoint reuses the P-T learning-curve run
    for spec in _specs("checkpoints"):
        epoch = spec.axis("source_epoch")
        _spec_row(scale_dir, spec, lr=0.02, test_acc_final=0.6 + 0.03 * epoch, train_acc_mean=0.7 + 0.025 * epoch)

    # cka (Table 1); one pair missing at the second target
    for spec in _specs("cka"):
        pair = spec.param("pair")
        if spec.axis("target") == second and pair == protocol.CKA_PAIRS[-1]:
            continue
        k0 = protocol.CKA_PAIRS.index(pair)
        _spec_row(scale_dir, spec, pair=pair,
                  **{f"cka_{s}": max(0.0, 0.9 - 0.2 * k0 - 0.1 * k) for k, s in enumerate(protocol.STAGES)})

    # criticality (Figure 5)
    for spec in _specs("criticality"):
        modules = {f"acc_{m.replace('.', '_')}": 0.8 - rng.uniform(0, 0.3 if spec.axis("arm") == "RI-T" else 0.05)
                   for m in protocol.MODULES}
        _spec_row(scale_dir, spec, lr=_lr(spec), acc_final=0.8, **modules)

    # criticality_paths (Figure 6); the RI-T optimization heat map of the second target is missing
    for spec in _specs("criticality_paths"):
        arm, path = spec.axis("arm"), spec.axis("path")
        _spec_row(scale_dir, spec, module="conv1", measure=1.5 if path == "direct" else "nan", final_train_loss=0.54)
        if spec.axis("target") == second and arm == "RI-T" and path == "optimization":
            continue
        rows = []
        for k in range(6):
            for sigma in protocol.MINI.criticality_sigmas:
                loss = 0.5 + sigma * 4 * (1 - k / 5) + 0.01 * k
                position = dict(alpha=k / 5) if path == "direct" else dict(checkpoint=k)
                rows.append(dict(x=(k / 5) * (1.0 if arm == "P-T" else 5.0), **position, sigma=sigma, loss=loss,
                                 accuracy=max(0.0, 1.0 - loss / 2)))
        _write_csv(scale_dir / "runs" / spec.key / "heatmap.csv", rows)

    # interpolation (Figures 4, 16)
    alphas = np.linspace(0, 1, 21)
    for spec in _specs("interpolation"):
        pair = spec.param("pair")
        _spec_row(scale_dir, spec, pair=pair, points=len(alphas))
        dip = 0.0 if "RI-T" not in pair else 0.6
        acc = 0.8 - dip * np.sin(np.pi * alphas)
        _write_csv(scale_dir / "runs" / spec.key / "curve.csv", [
            dict(pair=pair, alpha=a, loss=1 - v, accuracy=v, baseline=0.2, excess=0.8 - v, accuracy_baseline=0.8,
                 bn_recalibrated=False) for a, v in zip(alphas, acc)])

    # distances (Table 2 appendix)
    for spec in _specs("distances"):
        k0 = protocol.DISTANCE_PAIRS.index(spec.param("pair")) + 1
        _spec_row(scale_dir, spec, pair=spec.param("pair"), l2=10.0 * k0)
        _write_csv(scale_dir / "runs" / spec.key / "distances.csv", [
            dict(module=m, l2=k0 * (k + 1), size=100 * (k + 1), rms=k0 * (k + 1) / np.sqrt(100 * (k + 1)))
            for k, m in enumerate(protocol.MODULES[:-1])])


def test_every_figure_from_synthetic_results(tmp_path):
    scale_dir = tmp_path / "mini"
    scale_dir.mkdir()
    _synthetic_results(scale_dir)
    paths = figures.all_figures(scale_dir, load_published("neyshabur2020"), TARGETS)
    assert {p.name for p in paths} == EXPECTED
    for path in paths:
        assert path.parent == scale_dir
        assert path.stat().st_size > 10_000, path.name
    assert not list(scale_dir.glob(".*.tmp.png"))


def test_empty_or_partial_results(tmp_path):
    published = load_published("neyshabur2020")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "figure2.png").write_bytes(b"stale")
    assert figures.all_figures(empty, published, TARGETS) == []
    assert not (empty / "figure2.png").exists()
    assert figures.all_figures(tmp_path / "missing", published, TARGETS) == []

    # rows without any run directory, and rows of a target not asked for
    partial = tmp_path / "partial"
    partial.mkdir()
    _row(partial, "learning_curves", protocol.lc_key("P-T", TARGETS[0].name, 0.02, 1), "P-T", TARGETS[0].name,
         arm="P-T", seed=1, lr=0.02, test_acc_final=0.8, epochs=EPOCHS)
    _row(partial, "interpolation", "interp-x", "P-T & P-T", TARGETS[0].name, pair="P-T & P-T")
    _row(partial, "cka", "cka-other", "P-T & P", protocol.MINI.targets[2].name, pair="P-T & P", cka_conv1=0.5)
    paths = figures.all_figures(partial, published, TARGETS)
    assert {p.name for p in paths} == {"figure2.png", "figure4.png"}


def _figure5_axes(tmp_path, monkeypatch, targets) -> list:
    """The panels of Figure 5 drawn from criticality rows of ``targets`` (every condition of the mini grid)."""
    scale_dir = tmp_path / "_".join(t.name for t in targets)
    scale_dir.mkdir()
    names = {t.name for t in targets}
    for spec in protocol.grid("criticality", "mini"):
        if spec.axis("target") in names:
            _spec_row(scale_dir, spec, lr=_lr(spec), acc_final=0.8,
                      **{f"acc_{m.replace('.', '_')}": 0.7 for m in protocol.MODULES})
    drawn = []
    write = figures._write
    monkeypatch.setattr(figures, "_write", lambda path, figure: drawn.append(figure) or write(path, figure))
    assert figures.figure5_criticality(scale_dir, load_published("neyshabur2020"), targets) is not None
    return drawn[0].axes


def test_figure5_draws_the_published_chexpert_panel_once_beside_the_stand_in(tmp_path, monkeypatch):
    axes = _figure5_axes(tmp_path, monkeypatch, protocol.MINI.targets)
    titles = [ax.get_title() for ax in axes]
    published = [t for t in titles if t.startswith(figures.CHEXPERT_TITLE)]
    assert len(published) == 1 and "Figure 5" in published[0]
    for target in protocol.MINI.targets:  # one measured panel per target, naming what it stands for
        assert sum(t.startswith(f"measured: {target.name} (stands for {target.stands_for}") for t in titles) == 1
    stand_in = protocol.MINI.chexpert_stand_in
    row = next(i for i, t in enumerate(titles) if t.startswith(f"measured: {stand_in} "))
    assert titles[row + 1] == published[0]  # beside the CheXpert stand-in (2 columns: measured, published)
    assert "CheXpert stand-in" in titles[row]
    assert axes[row + 1].get_facecolor() != axes[row].get_facecolor()  # the published panel is shaded


def test_figure5_without_the_stand_in_gives_the_published_panel_its_own_row(tmp_path, monkeypatch):
    axes = _figure5_axes(tmp_path, monkeypatch, TARGETS)  # no rows of the stand-in 'digits'
    titles = [ax.get_title() for ax in axes]
    assert len(axes) == 2 * (len(TARGETS) + 1)
    assert [t for t in titles if t.startswith(figures.CHEXPERT_TITLE)] == [titles[-1]]
    assert sum(t.startswith("measured: ") for t in titles) == len(TARGETS)


def test_figures_module_does_not_import_tensorflow():
    code = "import sys, repro.neyshabur2020.figures; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
