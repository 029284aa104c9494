"""Command-line verbs of the cohort stage: demo, ingest, info."""
from __future__ import annotations

import argparse
import json

from core.cli_types import SEED_MAX, integer, number
from core.cohort.demo import DEFAULT_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="write the synthetic demo cohort folders (one per centre)",
                              description="Write the deterministic synthetic two-centre demo cohort.")
    p.add_argument("--out", required=True, help="folder to write the centres' cohort folders into")
    p.add_argument("--seed", type=integer(0, SEED_MAX), default=DEFAULT_SEED,
                   help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--scale", type=number(0, None, low_open=True), default=1.0,
                   help="cohort size relative to the paper's 147 + 63 patients (default 1.0)")
    p.set_defaults(func=_demo)

    p = subparsers.add_parser("ingest", help="check a cohort folder or zip and store it as a centre",
                              description="Check a cohort (folder or .zip) and store all of it, or nothing.")
    p.add_argument("--study", required=True, help="study database (.duckdb; created if missing)")
    p.add_argument("--center", required=True, help="centre name")
    p.add_argument("--role", required=True, choices=("training", "validation", "external"))
    p.add_argument("--cohort", required=True, help="cohort folder or .zip of one")
    p.add_argument("--replace", action="store_true", help="replace the centre if it exists")
    p.add_argument("--max-upload-mb", type=number(0, None, low_open=True), default=4096, help="refuse zips larger than this (MiB)")
    p.set_defaults(func=_ingest)

    p = subparsers.add_parser("info", help="centres, patients, events, images, masks and features of a study",
                              description="Summarise a study: centres with counts, and feature counts per region.")
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_info)


def _demo(args: argparse.Namespace) -> int:
    from core.cohort.demo import write_demo

    for folder, role in write_demo(args.out, seed=args.seed, scale=args.scale):
        print(f"{role:<11} {folder}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    import sys

    from core.cohort.archive import Limits
    from core.cohort.ingest import CohortError, ingest

    limits = Limits(max_upload=int(args.max_upload_mb * 2**20))
    try:  # a new study file is created only for a cohort that passes its checks
        summary = ingest(args.study, args.cohort, args.center, args.role, replace=args.replace, limits=limits)
    except CohortError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"stored centre {args.center} ({args.role}): " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    return 0


def _info(args: argparse.Namespace) -> int:
    from core.store import Study

    with Study.open(args.study, create=False, read_only=True) as study:
        centers, features = study.centers(), study.feature_counts()
    if args.json:
        print(json.dumps({"centers": centers.drop(columns=["created_at"]).to_dict("records"),
                          "features": features.to_dict("records")}, indent=2, default=str))
        return 0
    print(centers.drop(columns=["source", "created_at"]).to_string(index=False) if len(centers) else "no centres")
    if len(features):
        print()
        print(features.assign(settings_hash=features["settings_hash"].str[:12]).to_string(index=False))
    return 0
