"""Command-line verbs of feature robustness: ``robustness perturb`` and ``robustness icc``."""
from __future__ import annotations

import argparse
import sys

from core.cli_types import SEED_MAX, integer, number, table_file
from core.radiomics.cli import PRESET_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "robustness", help="feature reproducibility: perturbed masks, ICC per feature",
        description="Feature reproducibility across segmentations: a second reader's masks (mask source "
                    "reader2), a model's, or perturbed masks (erosion, dilation, shift by one voxel).")
    verbs = p.add_subparsers(dest="robustness_verb", metavar="STEP", required=True)

    q = verbs.add_parser(
        "perturb", help="store eroded, dilated and shifted masks of a centre",
        description="Store perturbed copies of a centre's masks (Zwanenburg et al. 2019): each region eroded and "
                    "dilated by one voxel in-plane, and the mask shifted by one voxel in-plane in a direction "
                    "drawn per patient from the seed. Sources perturbed-erode, perturbed-dilate, perturbed-shift "
                    "(with -from-SOURCE appended when --from is not manual). Running it again stores nothing new.")
    q.add_argument("--study", required=True, help="study database (.duckdb)")
    q.add_argument("--center", required=True, help="centre name")
    q.add_argument("--from", dest="base", default="manual", help="mask source to perturb (default manual)")
    q.add_argument("--seed", type=integer(0, SEED_MAX), default=0, help="seed of the shift directions (default 0)")
    q.set_defaults(func=_perturb)

    q = verbs.add_parser(
        "icc", help="ICC of every feature between mask sources",
        description="ICC of every feature of a centre between a base mask source and an alternative: reader2, a "
                    "model id, or 'perturbed' (every perturbed source of the base, one ICC over all of them). "
                    "Each source must be extracted with the same preset first (python -m core extract "
                    "--mask-source SOURCE).")
    q.add_argument("--study", required=True, help="study database (.duckdb)")
    q.add_argument("--center", required=True, help="centre name")
    q.add_argument("--base", default="manual", help="base mask source (default manual)")
    q.add_argument("--against", required=True, help="reader2, a segmentation model id, or perturbed")
    q.add_argument("--kind", default="ICC(2,1)",
                   help="ICC(2,1): absolute agreement, two-way random effects (default); ICC(3,1): consistency, "
                        "two-way mixed effects")
    q.add_argument("--preset", default="paper", help=PRESET_HELP)
    q.add_argument("--threshold", type=number(0, 1), default=0.75,
                   help="ICC counted as reproducible in the summary (default 0.75)")
    q.add_argument("--out", type=table_file, help="write the ICC table (.csv, .xlsx or .parquet)")
    q.set_defaults(func=_icc)


def _perturb(args: argparse.Namespace) -> int:
    from core.radiomics.robustness import perturb_center
    from core.store import Study

    with Study.open(args.study, create=False) as study:
        result = perturb_center(study, args.center, base=args.base, seed=args.seed)
    for source, stored in result.stored.items():
        failed = result.failures[source]
        print(f"{source}: {stored} stored, {result.unchanged[source]} unchanged, {len(failed)} failed")
        for message in failed.values():
            print(f"  {message}", file=sys.stderr)
    return 1 if any(result.failures.values()) else 0


def _icc(args: argparse.Namespace) -> int:
    from core.radiomics.presets import load_preset
    from core.radiomics.robustness import alternative_sources, feature_icc, robust_summary
    from core.radiomics.tables import write_table
    from core.store import Study

    preset = load_preset(args.preset)
    with Study.open(args.study, create=False, read_only=True) as study:
        others = alternative_sources(study, args.center, args.base, args.against)
        table = feature_icc(study, args.center, args.base, others, preset.settings_hash, kind=args.kind)
    summary = robust_summary(table, args.threshold)
    print(f"{args.kind} of {len(table)} features, centre {args.center}: {args.base} against {', '.join(others)} "
          f"(k = {int(table['k'].iloc[0])}, up to {int(table['n'].max())} patients, preset {preset.name})")
    print(summary.assign(share=summary["share"].map("{:.0%}".format),
                         median_icc=summary["median_icc"].map("{:.3f}".format))
          .rename(columns={"robust": f"icc>={args.threshold:g}"}).to_string(index=False))
    print(f"{int(summary['robust'].sum())} of {len(table)} features with {args.kind} >= {args.threshold:g}")
    if args.out:
        print(f"wrote {write_table(table, args.out)}")
    return 0
