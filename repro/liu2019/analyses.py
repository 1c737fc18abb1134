"""The analyses of Liu et al. 2019 that train nothing: flatness at a solution (L-C1), one theory level (L-C7)."""
from __future__ import annotations

from dataclasses import asdict

from repro.landscape.curvature import hessian_eigenpairs, hessian_trace
from repro.landscape.directions import random_plane
from repro.landscape.surfaces import loss_surface
from repro.liu2019.probes import kernel_path
from repro.liu2019.protocol import SCALES
from repro.liu2019.tasks import first_examples
from repro.runs import AnalysisRun
from repro.workspace import Workspace


def flatness(run: AnalysisRun, workspace: Workspace) -> dict:
    """Top Hessian eigenvalue, Hessian trace and the 2-D surface of one kernel at a deviation run's solution.

    Hessian of the training loss over every trainable parameter on the first
    ``curvature.examples`` training images (Lanczos, Hutchinson), with
    ``training=False``: the suite's own measure (the official code has none).
    The surface perturbs the landscape kernel along two filter-normalised,
    orthogonalised Gaussian directions (seed shared by both arms) over the
    scale's grid, on the first ``landscape.batch`` training images of
    ``landscape.data``, under the trained head or a fresh one and in the BN
    mode ``landscape`` sets (paper scale: ``loss_landscape.py``'s Food batch,
    fresh head, train mode; :class:`repro.liu2019.protocol.Landscape`).
    """
    from repro.liu2019.network import with_fresh_head
    from repro.liu2019.protocol import target_data

    scale = SCALES[run.param("scale")]
    land = scale.landscape
    of = run.param("of")
    trained_run = workspace.run(of)
    trained = workspace.result(of)
    model = workspace.loaded(trained_run.model, workspace.weights(of), slot="analysis")
    data, _ = workspace.data(trained_run.data)
    examples = first_examples(data, scale.curvature.examples)
    top = hessian_eigenpairs(model, examples, k=1, order=scale.curvature.lanczos_order, seed=0)
    trace = hessian_trace(model, examples, n_samples=scale.curvature.trace_samples, seed=0)
    surface_data = data if land.data == "own" else workspace.data(target_data(scale, scale.setting(land.data)))[0]
    surface_model = with_fresh_head(model, land.fresh_head, land.seed) if land.fresh_head else model
    layer = kernel_path(scale.generalization.network, land.layer)
    plane = random_plane(surface_model, land.seed, include=lambda v: v.path == layer, orthogonalize=True)
    axis = land.coordinates
    surface = loss_surface(surface_model, first_examples(surface_data, land.batch), plane, (axis, axis),
                           path=workspace.run_dir(run.key) / "surface.npz", flush_every=50, training=land.training)
    centre = surface.losses[len(axis) // 2, len(axis) // 2]
    rise = surface.losses - centre
    return dict(of=of, test_acc_final=trained["acc_final"], top_eigenvalue=float(top.eigenvalues[0]),
                eigen_residual=float(top.residuals[0]), hessian_trace=trace.estimate, trace_se=trace.stderr,
                surface_layer=layer, surface_centre_loss=float(centre), surface_mean_rise=float(rise.mean()),
                surface_max_rise=float(rise.max()), grid=f"{len(axis)}x{len(axis)}")


def theory(run: AnalysisRun, workspace: Workspace) -> dict:
    """One similarity level of one series of :func:`repro.liu2019.theory.transfer_experiment`."""
    from repro.liu2019.theory import transfer_experiment

    t = SCALES[run.param("scale")].theory
    row = transfer_experiment([run.param("level")], run.param("series"), n=t.n, d=t.d, m=t.m, steps=t.steps,
                              seed=run.param("seed"))[0]
    values = asdict(row)
    return dict(series=values.pop("kind"), **{k: v for k, v in values.items() if k != "seed"})
