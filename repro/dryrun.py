"""``repro run --dry-run``: the selected runs' resolved settings and what each needs, before anything runs."""
from __future__ import annotations

import json

from repro.plan import Shard, check_graph, dependencies, select
from repro.registry import Paper
from repro.runs import AnalysisRun


def dry_run(paper: Paper, experiments: list[str], scale: str, only: str | None, shard: Shard,
            as_json: bool = False, seed_set: int = 0) -> str:
    """One line per selected run (key, experiment, axes, settings, needs), or as JSON the full description of
    every selected run (``"selected": true``) and of every run they need (``"selected": false``)."""
    index = check_graph(list(paper.runs(scale, seed_set)))
    selected = select([r for r in index.values() if r.experiment in experiments], only, shard)
    if as_json:  # the selected runs, then every run they need that is not selected, each in full
        keys = {run.key for run in selected}
        needed = list(dict.fromkeys(key for run in selected for key in dependencies(run, index) if key not in keys))
        described = [(run, True) for run in selected] + [(index[key], False) for key in needed]
        return json.dumps([dict(run.to_config(), selected=chosen, needs=dependencies(run, index))
                           for run, chosen in described], indent=2, default=str)
    lines = [f"{paper.key} / {scale}: {len(selected)} runs in {', '.join(experiments)}"]
    for run in selected:
        cell = " ".join(f"{k}={v}" for k, v in run.axes)
        kind = "analysis" if isinstance(run, AnalysisRun) else "train"
        needs = dependencies(run, index)
        lines.append(f"{run.key}  [{run.experiment}, {kind}] {cell}")
        lines.append(f"    {run.describe()}")
        if needs:
            lines.append(f"    needs: {', '.join(needs)}")
    return "\n".join(lines)
