"""`harness rank`: the candidates gathered from the sources given (a study, presets, spec files),
the ranking run (or resumed) through the API, its table and summary printed."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.cli.console import interrupted, quiet_optuna, say
from harness.cli.options import data_options
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.data import DataOptions
    from harness.rank.candidates import Candidate, StudyInfo
    from harness.rank.ranking import Ranking


def cmd_rank(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness rank`: gather the candidates, run (or resume) the ranking, print the table."""
    from harness.cli.study_commands import robustness_from
    from harness.rank.ranking import RankConfig
    from harness.rank.runs import run_rank

    if not (args.from_ or args.presets or args.spec):
        raise HarnessError("nothing to rank: give --from FOLDER (a study), --presets NAME,... or --spec FILE")
    if (args.top or args.pareto) and not args.from_:
        raise HarnessError("--top and --pareto choose among a study's trials; give --from FOLDER too")
    candidates, study, options = gather_candidates(args)
    config = RankConfig(
        dataset=args.dataset, seeds=args.seeds, epochs=args.epochs, seconds=args.seconds,
        budget_factor=args.budget_factor, device=args.device, seed=args.seed, name=args.name,
        results_dir=args.results, race=args.race, max_seeds=args.max_seeds, alpha=args.alpha,
        data_options=options, data_memory=args.data_memory, crop_padding=args.crop_padding, flip=args.flip,
        storage=args.storage, mlflow=args.mlflow, compile=args.compile, precision=args.precision,
        deterministic=args.deterministic, robustness=robustness_from(args), metric=args.metric,
        live=not args.quiet,
    )
    quiet_optuna()
    try:
        ranking = run_rank(candidates, config, study=study, progress=say, argv=["harness", *argv])
    except KeyboardInterrupt:
        return interrupted("runs")
    print_ranking(ranking)
    return 0


def gather_candidates(args: argparse.Namespace) -> tuple[list[Candidate], StudyInfo | None, DataOptions]:
    """The candidates of --from, --presets and --spec, in that order; the study (with --from); and the
    data options, the study's recorded ones where the command line leaves them at their defaults."""
    from harness.rank.candidates import from_presets, from_spec_files, from_study
    from harness.train.loop import TrainConfig

    candidates = []
    study = None
    base = TrainConfig()
    options = data_options(args)
    if args.from_:
        trials, study, base = from_study(args.from_, top=args.top, pareto=args.pareto, study_name=args.study,
                                         storage=args.storage)
        candidates += trials
        options = options.with_recorded(study.data_options)
    if args.presets:
        candidates += from_presets([n.strip() for n in args.presets.split(",") if n.strip()], base)
    if args.spec:
        candidates += from_spec_files(args.spec, base)
    return candidates, study, options


def print_ranking(ranking: Ranking) -> None:
    """The ranking's table (without the architecture and speed columns), summary, fidelity lines and files."""
    from harness.rank.report import summary_line, table_rows

    header, rows = table_rows(ranking.table)
    keep = [i for i, h in enumerate(header) if h not in ("architecture", "train img/s")]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in keep]
    print("  ".join(header[i].ljust(w) for i, w in zip(keep, widths, strict=True)))
    for r in rows:
        print("  ".join(r[i].ljust(w) for i, w in zip(keep, widths, strict=True)))
    print(summary_line(ranking))
    for _, f in ranking.fidelity.iterrows():
        if f["tau"] == f["tau"]:  # not NaN
            print(f"fidelity: Kendall's tau {f['tau']:+.2f} (p {f['p']:.3f}, n {f['n']}) for {f['predictor']}")
    print(f"results: {ranking.folder / 'rank.md'}, {ranking.folder / 'rank.csv'}, {ranking.folder / 'rank.html'}")
