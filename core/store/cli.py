"""Command-line verb of the store: ``python -m core check --study S [--repair]``."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check", help="check a study's database and files; --repair removes what is left over",
        description="Read every table (DuckDB checks each block), hash every stored image and mask against its "
                    "SHA-256, and look for orphaned or stale rows, unreferenced files and .part files of "
                    "interrupted writes. Without --repair nothing is changed (the study is opened read-only). "
                    "Exit code 0: consistent; 1: problems remain.")
    p.add_argument("--study", required=True, help="study database (.duckdb)")
    p.add_argument("--repair", action="store_true",
                   help="remove orphaned and stale rows (one transaction, logged) and unreferenced files")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from core.store.check import check_study

    report = check_study(args.study, repair=args.repair)
    print(f"check {report.path}")
    for fact in report.facts:
        print(f"  {fact}")
    for line in report.repaired:
        print(f"repaired: {line}")
    for finding in report.findings:
        hint = " (python -m core check --repair removes it)" if finding.repairable and not args.repair else ""
        print(f"{finding.kind}: {finding.detail}{hint}")
    if report.audit_tail is not None:
        print("the audit log's last good state (newest first):")
        print(report.audit_tail.to_string(index=False, max_colwidth=120))
    elif any(f.kind == "damaged database" for f in report.findings):
        print("the audit log cannot be read either: restore the study from the last backup")
    print("consistent" if report.ok else f"{len(report.findings)} problem(s) left")
    return 0 if report.ok else 1
