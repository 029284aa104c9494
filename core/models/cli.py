"""Command-line verbs for sharing models: bundle export|import|preset, validate, risk."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    bundle = subparsers.add_parser("bundle", help="export, import or inspect a portable model bundle",
                                   description="Portable model bundles: one JSON file, no patient data.")
    verbs = bundle.add_subparsers(dest="bundle_verb", metavar="STEP", required=True)
    p = verbs.add_parser("export", help="write the bundle of a stored analysis",
                         description="Write the bundle of a stored analysis (the newest by default).")
    p.add_argument("--study", required=True)
    p.add_argument("--out", required=True, help="bundle file to write (.json)")
    p.add_argument("--analysis", help="analysis id (default: the newest)")
    p.set_defaults(func=_export)
    p = verbs.add_parser("import", help="verify a bundle and register it in a study",
                         description="Verify a bundle's checksum and register it in a study.")
    p.add_argument("--study", required=True)
    p.add_argument("--bundle", required=True)
    p.set_defaults(func=_import)
    p = verbs.add_parser("preset", help="write the bundle's extraction settings as a preset file",
                         description="Write the bundle's PyRadiomics settings as a YAML preset for "
                                     "`python -m core extract --preset FILE.yaml`.")
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True, help="preset file to write (.yaml)")
    p.set_defaults(func=_preset)

    p = subparsers.add_parser("validate", help="validate a bundle on a centre of a study",
                              description="Score a bundle's models on a centre: AUC with DeLong CI, calibration, "
                                          "Hosmer-Lemeshow, decision curves, cut-off metrics, DeLong between models.")
    p.add_argument("--bundle", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--center", required=True)
    p.add_argument("--mask-source", help="mask source of the features (default: chosen)")
    p.add_argument("--allow-other-settings", action="store_true",
                   help="use features extracted with other settings than the bundle's (stated in the report)")
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.set_defaults(func=_validate)

    p = subparsers.add_parser("risk", help="one patient's risk from a bundle",
                              description="The combined model's risk with a 95%% CI and the nomogram points, from "
                                          "clinical values and the CT (or a stored patient's features).")
    p.add_argument("--bundle", required=True)
    p.add_argument("--image", help="the patient's CT (NIfTI, NRRD or a DICOM folder)")
    p.add_argument("--mask", help="its mask (1 liver, 2 tumour); without it a segmentation model draws one")
    p.add_argument("--segmentation-model", help="segmentation model id (default: the bundle's)")
    p.add_argument("--value", action="append", default=[], metavar="NAME=VALUE",
                   help="a clinical value, e.g. --value inr=1.2 --value alb=38")
    p.add_argument("--study", help="pick a stored patient from this study instead of a CT")
    p.add_argument("--center", help="the stored patient's centre")
    p.add_argument("--patient", help="the stored patient's id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_risk)


def _export(args: argparse.Namespace) -> int:
    from core.models.bundle import export_bundle
    from core.store import Study

    with Study.open(args.study, create=False) as study:
        path = export_bundle(study, args.out, args.analysis)
    print(f"wrote {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from core.models.bundle import import_bundle
    from core.store import Study

    with Study.open(args.study) as study:
        bundle = import_bundle(study, args.bundle)
    print(f"registered {bundle.bundle_id} (sha256 {bundle.sha256[:12]}, trained on "
          f"{bundle.content['training']['centre']}: {bundle.content['training']['n']} patients)")
    return 0


def _preset(args: argparse.Namespace) -> int:
    import yaml

    from core.models.bundle import Bundle

    preset = Bundle.load(args.bundle).preset()
    Path(args.out).write_text(yaml.safe_dump(preset.params, sort_keys=True))
    print(f"wrote {args.out} (settings hash {preset.settings_hash[:12]})")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from core.models.bundle import import_bundle
    from core.models.external import validate_bundle
    from core.store import Study

    with Study.open(args.study, create=False) as study:
        bundle = import_bundle(study, args.bundle)
        result = validate_bundle(study, bundle, args.center, mask_source=args.mask_source,
                                 allow_other_settings=args.allow_other_settings)
        study.audit("external validation", {"bundle": bundle.bundle_id, "center": args.center,
                                             "override": bool(result["settings_override"])})
    if args.report:
        from core.report import write_report
        write_report(result, args.report, kind="validation")
    for warning in result["warnings"]:
        print(f"warning: {warning}")
    print(f"{len(result['range_warnings'])} value(s) outside the training ranges")
    for name, model in result["models"].items():
        m = model["metrics"][args.center]
        print(f"{name:<10} AUC {m.get('auc', float('nan')):.3f} ({m.get('auc_ci_low', float('nan')):.3f}-"
              f"{m.get('auc_ci_high', float('nan')):.3f})  sens {m.get('sensitivity', float('nan')):.3f}  "
              f"spec {m.get('specificity', float('nan')):.3f}  slope {m.get('calibration_slope', float('nan')):.2f}  "
              f"HL p {m.get('hl_p', float('nan')):.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def _risk(args: argparse.Namespace) -> int:
    from core.models.bundle import Bundle
    from core.models.risk import patient_risk

    bundle = Bundle.load(args.bundle)
    values: dict[str, str] = {}
    for item in args.value:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--value {item!r}: expected NAME=VALUE, e.g. inr=1.2")
        values[name.strip().lower()] = value.strip()
    features = None
    if args.study:
        from core.store import Study

        if not (args.center and args.patient):
            raise ValueError("--study needs --center and --patient")
        with Study.open(args.study, create=False, read_only=True) as study:
            from core.models.external import choose_features

            source, settings, _ = choose_features(study, bundle, args.center)
            features = study.features_wide(args.center, source, settings).loc[args.patient]
            stored = study.clinical(args.center).loc[args.patient]
            values = {**{p["name"]: stored.get(p["name"]) for p in bundle.predictors}, **values}
    result = patient_risk(bundle, values, features=features, image=args.image, mask=args.mask,
                          segmentation_model=args.segmentation_model)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"PTLF risk {100 * result.risk:.1f}% (95% CI {100 * result.risk_low:.1f}-{100 * result.risk_high:.1f}%), "
          f"{'above' if result.above_cutoff else 'below'} the training cut-off {100 * result.cutoff:.1f}%")
    if result.training_percentile is not None:
        print(f"higher than {result.training_percentile:.0f}% of the training patients")
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
