"""Command-line verbs of the radiomics stage: extract, features."""
from __future__ import annotations

import argparse
import os
import sys

from core.cli_types import integer, table_file

PRESET_HELP = "paper (1,874 features per region), quick (107), or a PyRadiomics parameter file (.yaml); default paper"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="extract radiomics features of a centre (parallel, resumable)",
        description="Extract radiomics features (liver and tumour regions; PyRadiomics' definitions, computed by "
                    "PyRadiomics or the project's torch engine) for every patient of a centre. "
                    "Finished cases are stored one by one: run the same command again to continue after a "
                    "crash; cases already extracted with the same image, mask and settings are skipped.")
    _selection(p)
    p.add_argument("--workers", type=integer(1), help="worker processes (default: every core)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster: a scheduler address (tcp://host:8786; files are sent to the "
                        "workers) or 'local' for a LocalCluster on this machine")
    p.add_argument("--engine", choices=("auto", "torch", "pyradiomics"), default="auto",
                   help="auto (default): the torch engine, on a GPU when one is visible (one worker per GPU), "
                        "else on the CPU; torch; or pyradiomics. Both give the same features; settings the "
                        "torch engine lacks (e.g. resampling) fall back to PyRadiomics, saying why")
    p.add_argument("--skip-missing-masks", action="store_true",
                   help="patients without a mask from this source are skipped, not failed (e.g. a second reader "
                        "who outlined some patients only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_extract)

    p = subparsers.add_parser(
        "features", help="write a centre's features as a wide table (one row per patient)",
        description="Write the features of a centre as a table: one row per patient, columns region:feature.")
    _selection(p)
    p.add_argument("--out", required=True, type=table_file, help="output file, .csv, .xlsx or .parquet")
    p.set_defaults(func=_features)


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    p.add_argument("--center", required=True, help="centre name")
    p.add_argument("--mask-source", default="manual", help="'manual' (default) or a segmentation model id")
    p.add_argument("--preset", default="paper", help=PRESET_HELP)


def _extract(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.jobs import Progress, format_duration
    from core.jobs.signals import Interrupted, deferred_signals
    from core.radiomics.runner import KIND, run_extraction
    from core.store import Study

    bar = None

    def show(progress: Progress) -> None:
        nonlocal bar
        if bar is None:  # the first report comes after cached cases are counted: the rate excludes them
            bar = tqdm(total=progress.total, initial=progress.finished, unit="case", dynamic_ncols=True)
        bar.set_postfix(failed=progress.failed, refresh=False)
        bar.update(progress.finished - bar.n)

    # Ctrl-C and SIGTERM are raised between cases, never inside a database write.
    with Study.open(args.study, create=False) as study:
        stopped = None
        try:
            with deferred_signals():
                result = run_extraction(study, args.center, mask_source=args.mask_source, preset=args.preset,
                                        workers=args.workers, dask=args.dask, engine=args.engine,
                                        skip_missing_masks=args.skip_missing_masks,
                                        progress=None if args.no_progress else show)
        except Interrupted as exc:
            stopped = exc
        finally:
            if bar is not None:
                bar.close()
        if stopped is not None:
            job = study.jobs.previous(KIND, args.center, {"pid": os.getpid()})
            where = f"job {job['job_id']} {job['state']} with {job['done']} of {job['total']} cases stored" \
                if job else "no job started"
            print(f"stopped by {stopped}: {where}; run the same command again to continue", file=sys.stderr)
            return stopped.exit_code
    if result.engine_note:
        print(f"note: {result.engine_note}", file=sys.stderr)
    where = f" on {', '.join(result.devices)}" if result.devices else ""
    continued = f" (continues job {result.continues})" if result.continues else ""
    print(f"job {result.job_id}{continued} {result.state}: {result.total} cases, {result.extracted} extracted, "
          f"{result.cached} cached, {len(result.failures)} failed in {format_duration(result.seconds)} "
          f"(settings {result.settings_hash[:12]}, engine {result.engine}{where})")
    for pid, error in sorted(result.failures.items()):
        print(f"  {pid}: {error}", file=sys.stderr)
    if result.state == "cancelled":
        return 130
    return 1 if result.failures else 0


def _features(args: argparse.Namespace) -> int:
    from core.radiomics.tables import feature_table, write_table
    from core.store import Study

    with Study.open(args.study, create=False, read_only=True) as study:
        table = feature_table(study, args.center, args.mask_source, args.preset)
    out = write_table(table, args.out)
    print(f"wrote {table.shape[0]} patients x {table.shape[1]} features to {out}")
    return 0
