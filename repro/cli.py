"""``repro``: the command line (thin: parsing and error reporting only).

    repro list                               papers, experiments, scales
    repro run PAPER [EXPERIMENT ...]         run a paper's grid (default scale: mini)
    repro tune PAPER [EXPERIMENT ...]        the protocol's hyper-parameter searches -> tuned.json
    repro compare PAPER                      published vs measured, claim verdicts, figures
    repro atlas                              every paper's measure on the same networks, layer by layer
    repro report [PAPER ...]                 Markdown and HTML report pages from the committed results
    repro verify [PAPER ...]                 check a results tree as a whole (after faults, after merging shards)

Bad input ends with ``error: <one line>`` and exit code 2; Ctrl-C keeps
every finished run and the checkpoint of the current one.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import repro

from repro.errors import BadArgument, ReproError
from repro.options import add_execution_arguments
from repro.quiet import quiet_libraries
from repro.threads import pin_threads
from repro.registry import STUDY_MODULES, get_paper, paper_keys, resolve_searches, select_searches


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"repro {repro.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the libraries' own messages (TensorFlow, tfds), which are hidden by default")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list papers, experiments and scales")

    run = commands.add_parser("run", help="run a paper's experiments (one CSV row per finished run)")
    run.add_argument("paper")
    run.add_argument("experiments", nargs="*", help="experiments to run (default: all default ones of the scale)")
    run.add_argument("--scale", default="mini", help="smoke | mini | paper (default: mini)")
    run.add_argument("--only", metavar="REGEX", help="run only the run keys matching REGEX (re.search)")
    run.add_argument("--shard", metavar="I/N", help="run the I-th of N disjoint slices of the grid")
    run.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    run.add_argument("--data-dir", help="TFDS data directory (embedded builders and catalog datasets)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the selected runs' resolved settings and dependencies, and exit")
    run.add_argument("--json", action="store_true", help="with --dry-run: the full description of each run as JSON")
    run.add_argument("--seed-set", type=int, default=0, metavar="S",
                     help="draw an independent set of every seed of the grid (0: the reference seeds); results go to "
                          "<out>/<paper>/<scale>-seed-set-S")
    run.add_argument("--jobs", type=int, default=None, metavar="N",
                     help="worker processes for independent runs (default: one per core, at most 8, or 1 with "
                          "a --strategy other than default); 1 = this process only")
    add_execution_arguments(run)

    tune = commands.add_parser("tune", help="run the hyper-parameter searches of a paper's protocol (keras-tuner)")
    tune.add_argument("paper")
    tune.add_argument("experiments", nargs="*", help="experiments whose searches to run (default: every one)")
    tune.add_argument("--scale", default="mini", help="smoke | mini | paper (default: mini)")
    tune.add_argument("--only", metavar="REGEX", help="run only the searches whose name matches REGEX (re.search)")
    tune.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    tune.add_argument("--data-dir", help="TFDS data directory (embedded builders and catalog datasets)")
    add_execution_arguments(tune)

    atlas = commands.add_parser("atlas", help="every paper's measure on the same networks, layer by layer: train "
                                              "what is missing, then compare (docs/atlas.md)")
    atlas.add_argument("--scale", default="mini", help="smoke | mini | paper (default: mini)")
    atlas.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    atlas.add_argument("--data-dir", help="TFDS data directory (embedded builders and catalog datasets)")
    atlas.add_argument("--dry-run", action="store_true",
                       help="print the atlas's runs, with the paper runs they need, and exit")
    atlas.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="worker processes for independent runs (default: one per core, at most 8)")
    add_execution_arguments(atlas)

    compare = commands.add_parser("compare", help="published vs measured numbers and claim verdicts")
    compare.add_argument("paper")
    compare.add_argument("--scale", default="mini")
    compare.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    compare.add_argument("--seed-sets", default="0", metavar="S,S...",
                         help="compare the results of these seed sets (repro run --seed-set) and report, per claim, "
                              "the verdict under each and whether they agree (default: 0)")

    verify = commands.add_parser("verify", help="check a results tree as a whole (rows, runs, dependencies, "
                                                "comparison, writers); exit 0 only when everything holds")
    verify.add_argument("papers", nargs="*", help="papers to check (default: every paper with results under --out)")
    verify.add_argument("--scale", default="mini")
    verify.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    verify.add_argument("--seed-set", type=int, default=0, metavar="S", help="the tree of seed set S (default: 0)")

    events = commands.add_parser("events", help="rebuild the TensorBoard events of a results tree from its files")
    events.add_argument("paper")
    events.add_argument("--scale", default="mini")
    events.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")

    prepare = commands.add_parser("prepare", help="prepare tfds datasets a paper scale reads (once, into --data-dir)")
    prepare.add_argument("datasets", nargs="+", help="tfds catalog names (imagenet2012, domainnet/clipart, ...) or "
                                                     "chexpert_csv")
    prepare.add_argument("--data-dir", required=True, help="TFDS data directory (manual files in <dir>/downloads/manual)")

    report = commands.add_parser("report", help="Markdown and HTML pages per paper from the results on disk")
    report.add_argument("papers", nargs="*", help="papers to report (default: all)")
    report.add_argument("--scale", default="mini")
    report.add_argument("--out", default="results", type=Path, help="results root (default: ./results)")
    report.add_argument("--report-dir", default="reports", type=Path, help="where the pages go (default: ./reports)")
    return parser


def _list() -> None:
    for key in paper_keys():
        paper = get_paper(key)
        print(f"{key}: {paper.title}")
        print(f"  scales: {', '.join(paper.scales)}")
        for experiment in paper.experiments:
            print(f"  {experiment.name:<18} [{', '.join(experiment.scales)}] {experiment.description}")
    for key in STUDY_MODULES:
        study = get_paper(key)
        print(f"{key} (study, `repro {key}`): {study.title}")
        print(f"  scales: {', '.join(study.scales)}")


def _atlas(args: argparse.Namespace) -> None:
    """``repro run atlas`` (the paper runs it reads are trained in their papers' trees where missing), then
    ``repro compare atlas``."""
    args.paper, args.experiments, args.only, args.shard, args.seed_set, args.json = "atlas", [], None, None, 0, False
    _run(args)
    if not args.dry_run:
        args.seed_sets = "0"
        _compare(args)


def _run(args: argparse.Namespace) -> None:
    from repro.plan import Shard, check_only

    paper = get_paper(args.paper)
    experiments = paper.resolve_experiments(args.experiments, args.scale)
    shard = Shard.parse(args.shard)
    if args.seed_set < 0:
        raise BadArgument(f"bad --seed-set {args.seed_set}: expected a number >= 0 (0 = the reference seeds)")
    check_only([r for r in paper.runs(args.scale, args.seed_set) if r.experiment in experiments], args.only,
               f"{', '.join(experiments)} at scale {args.scale}")
    if args.json and not args.dry_run:
        raise BadArgument("--json goes with --dry-run")
    if args.dry_run:
        from repro.dryrun import dry_run

        print(dry_run(paper, experiments, args.scale, args.only, shard, as_json=args.json, seed_set=args.seed_set))
        return
    from repro.scheduler import check_jobs, jobs_for

    jobs = jobs_for(args.jobs, args.strategy)
    check_jobs(jobs, args.strategy)
    check_threads(args.threads)
    check_output(args.out)
    quiet_libraries(args.verbose)
    pin_threads(args.threads)
    from repro.execution import execution_from_args
    from repro.runner import run_grid

    with execution_from_args(args) as execution:
        run_grid(paper, experiments, args.scale, execution.output_root(args.out), only=args.only, shard=shard,
                 data_dir=args.data_dir, jobs=jobs, threads=args.threads,
                 execution=(args.strategy, args.mixed_precision, args.jit_compile), verbose=args.verbose,
                 seed_set=args.seed_set, command=args.command_line)


def check_threads(threads: int) -> None:
    if threads < 1:
        raise BadArgument(f"bad --threads {threads}: expected a number of threads per run >= 1")


def check_output(out: Path) -> None:
    """``--out`` must be a directory this user can create and write."""
    if out.exists() and not out.is_dir():
        raise BadArgument(f"--out {out} is a file; give a directory for the results")
    missing = []
    probe = out
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    try:  # create it for real (the only test some file systems answer truthfully), then leave nothing behind
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise BadArgument(f"cannot write results under --out {out}: {exc.strerror or exc}; give another directory")
    finally:
        for path in missing:
            try:
                path.rmdir()
            except OSError:
                break


def _tune(args: argparse.Namespace) -> None:
    paper = get_paper(args.paper)
    searches = select_searches(resolve_searches(paper, args.experiments, args.scale), args.only)
    check_threads(args.threads)
    check_output(args.out)
    quiet_libraries(args.verbose)
    pin_threads(args.threads)
    from repro.execution import execution_from_args
    from repro.tuner import tune

    with execution_from_args(args) as execution:
        tune(paper, searches, args.scale, execution.output_root(args.out), data_dir=args.data_dir)


def _seed_sets(text: str) -> list[int]:
    try:
        sets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sets = []
    if not sets or min(sets) < 0 or len(set(sets)) != len(sets):
        raise BadArgument(f"bad --seed-sets {text!r}: expected distinct numbers >= 0 separated by commas, e.g. 0,1")
    return sets


def _compare(args: argparse.Namespace) -> None:
    from repro.store import scale_dir_name

    paper = get_paper(args.paper)
    paper.resolve_experiments(None, args.scale)
    sets = _seed_sets(args.seed_sets)
    scale_dirs = [args.out / paper.key / scale_dir_name(args.scale, s) for s in sets]
    for s, scale_dir in zip(sets, scale_dirs):
        if not scale_dir.is_dir():
            raise ReproError(f"no results in {scale_dir}: run `repro run {paper.key} --scale {args.scale}"
                             + (f" --seed-set {s}" if s else "") + "` first")
    from repro.rowcheck import refuse_broken
    from repro.runner import workspace_for

    experiments = [e for e in paper.experiments if args.scale in e.scales]
    for s in sets:
        refuse_broken(workspace_for(paper, args.scale, args.out, seed_set=s), experiments)
    comparisons = [paper.compare(scale_dir, args.scale) for scale_dir in scale_dirs]
    quiet_libraries(args.verbose)
    from repro.events import write_figures

    for scale_dir, comparison in zip(scale_dirs, comparisons):
        write_figures(scale_dir / "runs", comparison.figures)
    print(getattr(comparisons[0], "text", comparisons[0]))
    if len(sets) > 1:
        from repro.compare import seed_set_agreement

        print("\n" + seed_set_agreement(paper.key, args.scale, sets, comparisons, scale_dirs[0]))
        if paper.across_seed_sets is not None:
            print("\n" + paper.across_seed_sets(scale_dirs, args.scale, sets))


def _verify(args: argparse.Namespace) -> int:
    from repro.runner import workspace_for
    from repro.store import scale_dir_name
    from repro.verify import verify

    keys = args.papers or [k for k in paper_keys() + list(STUDY_MODULES)
                           if (args.out / k / scale_dir_name(args.scale, args.seed_set)).is_dir()]
    if not keys:
        raise ReproError(f"no results at scale {args.scale} under {args.out}")
    failed = 0
    for key in keys:
        paper = get_paper(key)
        paper.resolve_experiments(None, args.scale)
        workspace = workspace_for(paper, args.scale, args.out, seed_set=args.seed_set)
        if not workspace.scale_dir.is_dir():
            raise ReproError(f"no results in {workspace.scale_dir}")
        checks = verify(workspace)
        print(f"{key} / {scale_dir_name(args.scale, args.seed_set)} ({workspace.scale_dir})")
        for check in checks:
            print("\n".join(check.lines()))
        failed += sum(1 for c in checks if not c.holds)
    print("verified: every check holds" if not failed else f"{failed} check(s) failed")
    return 0 if not failed else 1


def _events(args: argparse.Namespace) -> None:
    paper = get_paper(args.paper)
    paper.resolve_experiments(None, args.scale)
    scale_dir = args.out / paper.key / args.scale
    if not scale_dir.is_dir():
        raise ReproError(f"no results in {scale_dir}: run `repro run {paper.key} --scale {args.scale}` first")
    quiet_libraries(args.verbose)
    from repro.events import rebuild

    figures = sorted(scale_dir.glob("*.png"))
    count = rebuild(paper, args.scale, args.out, figures)
    print(f"{count} runs and {len(figures)} figures of {paper.key} / {args.scale} written for TensorBoard: "
          f"tensorboard --logdir {scale_dir / 'runs'}")


def _prepare(args: argparse.Namespace) -> None:
    quiet_libraries(args.verbose)
    from repro.data.catalog import catalog_builder
    from repro.data.chexpert import chexpert_builder

    for name in args.datasets:
        builder = (chexpert_builder(args.data_dir, prepare=True) if name == "chexpert_csv"
                   else catalog_builder(name, args.data_dir, prepare=True))
        print(f"prepared: {name} in {builder.data_dir}")


def _report(args: argparse.Namespace) -> None:
    from repro.report import write_reports

    for path in write_reports(args.papers, args.scale, args.out, args.report_dir):
        print(f"written: {path}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.command_line = "repro " + shlex.join(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "run":
            _run(args)
        elif args.command == "tune":
            _tune(args)
        elif args.command == "atlas":
            _atlas(args)
        elif args.command == "compare":
            _compare(args)
        elif args.command == "prepare":
            _prepare(args)
        elif args.command == "events":
            _events(args)
        elif args.command == "verify":
            return _verify(args)
        else:
            _report(args)
    except ReproError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are in the CSVs and the current run keeps its last checkpoint; "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
