"""``repro run --dry-run``: the selected runs' resolved settings and what each needs, before anything runs."""
from __future__ import annotations

import json

from repro.plan import Shard, check_graph, dependencies, select
from repro.registry import Paper
from repro.runs import AnalysisRun


def dry_run(paper: Paper, experiments: list[str], scale: str, only: str | None, shard: Shard,
            as_json: bool = False, seed_set: int = 0) -> str:
    """One line per selected run (key, experiment, axes, settings, needs), or the full descriptions as JSON."""
    index = check_graph(list(paper.runs(scale, seed_set)))
    selected = select([r for r in index.values() if r.experiment in experiments], only, shard)
    if as_json:
        return json.dumps([dict(run.to_config(), needs=dependencies(run, index)) for run in selected], indent=2,
                          default=str)
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
