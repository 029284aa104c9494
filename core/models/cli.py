"""Command-line verbs for sharing models: bundle export|import|preset, validate, recalibrate, risk,
and keys show|label|list|trust|untrust (this installation's signing key and the trusted keys)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli_types import table_file

ACCEPT_HELP = ("use a bundle that is unsigned, wrongly signed or signed by a key outside the trusted keys "
               "(the acceptance is recorded in the study's audit log)")
MODELS = ("clinical", "radiomics", "combined")


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
                         description="Verify a bundle's checksum and signature and register it in a study.")
    p.add_argument("--study", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--accept-untrusted", action="store_true", help=ACCEPT_HELP)
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
    p.add_argument("--predictions", type=table_file,
                   help="write every patient's outcome and risks as a table here (.csv, .xlsx or .parquet)")
    p.add_argument("--accept-untrusted", action="store_true", help=ACCEPT_HELP)
    p.set_defaults(func=_validate)

    p = subparsers.add_parser(
        "recalibrate", help="recalibrate a bundle's models on a centre and save the new bundle",
        description="Estimate an intercept-only update (y ~ 1 + offset(lp)) or a logistic recalibration "
                    "(y ~ 1 + lp) of each chosen model on the centre's own patients, each model on its own linear "
                    "predictor, and save the result as a new bundle signed by this installation: registered in "
                    "the study (Patient risk and later validations can use it) and written to --out. The new "
                    "bundle records the original's checksum as its parent; it holds coefficients only.")
    p.add_argument("--bundle", required=True, help="the bundle to recalibrate (.json)")
    p.add_argument("--study", required=True)
    p.add_argument("--center", required=True, help="the validating centre whose patients estimate the update")
    p.add_argument("--method", required=True, choices=("intercept", "logistic"))
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), metavar="MODEL",
                   help="the models to recalibrate (default: all three: clinical radiomics combined)")
    p.add_argument("--out", help="write the new bundle here (.json)")
    p.add_argument("--mask-source", help="mask source of the features (default: chosen)")
    p.add_argument("--allow-other-settings", action="store_true",
                   help="use features extracted with other settings than the bundle's")
    p.add_argument("--accept-untrusted", action="store_true", help=ACCEPT_HELP)
    p.set_defaults(func=_recalibrate)

    keys = subparsers.add_parser("keys", help="this installation's signing key and the trusted keys",
                                 description="Bundles are signed with this installation's Ed25519 key (created on "
                                             "first use in $PTLF_HOME, else ~/.config/ptlf); a bundle is used "
                                             "without asking only when signed by a trusted key.")
    verbs = keys.add_subparsers(dest="keys_verb", metavar="STEP", required=True)
    p = verbs.add_parser("show", help="this installation's key: fingerprint, label, public key",
                         description="Print this installation's fingerprint, label and public key (send the "
                                     "public key to the centres that validate your bundles).")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_keys_show)
    p = verbs.add_parser("label", help="set the name and centre that this installation's signatures carry")
    p.add_argument("--name", required=True)
    p.add_argument("--centre", help="the centre's name (default: unchanged)")
    p.set_defaults(func=_keys_label)
    p = verbs.add_parser("list", help="list the trusted keys")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_keys_list)
    p = verbs.add_parser("trust", help="trust the key that signed a bundle, or a public key",
                         description="Add a key to the trusted keys: the one that signed --bundle, or --key (the "
                                     "public key `python -m core keys show` prints at the other centre). Compare "
                                     "its fingerprint with the one the other centre gives you first; --fingerprint "
                                     "makes the command refuse a key whose fingerprint differs.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--bundle", help="a bundle file signed by the key")
    which.add_argument("--key", help="the public key (base64)")
    p.add_argument("--fingerprint", help="the fingerprint you expect (refused when the key's differs)")
    p.add_argument("--name", help="a name for the key (default: the signer's name in the bundle)")
    p.add_argument("--centre", help="the key's centre (default: the signer's centre in the bundle)")
    p.set_defaults(func=_keys_trust)
    p = verbs.add_parser("untrust", help="remove a trusted key")
    p.add_argument("fingerprint", help="its fingerprint (colons optional; at least 8 leading hex digits)")
    p.set_defaults(func=_keys_untrust)

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
    p.add_argument("--accept-untrusted", action="store_true",
                   help="use a bundle that is unsigned, wrongly signed or signed by an untrusted key (said in the "
                        "output; risk writes to no study, so nothing is recorded)")
    p.set_defaults(func=_risk)


def _export(args: argparse.Namespace) -> int:
    from core.analysis_cli import print_warnings, stored_warnings
    from core.models.bundle import export_bundle
    from core.store import Study

    with Study.open(args.study, create=False) as study:
        path = export_bundle(study, args.out, args.analysis)
        result = study.analysis(json.loads(path.read_text())["analysis_id"])
    print(f"wrote {path}")
    print_warnings(stored_warnings(result))
    return 0


def _bundle_warnings(bundle) -> list[str]:
    """What a bundle itself warns about: an accepted signature problem, package versions that differ,
    its training fit's warnings."""
    problem = bundle.provenance().problem()
    versions = bundle.version_warning()
    return ([f"{problem} (accepted with --accept-untrusted)"] if problem else []) + ([versions] if versions else []) \
        + [f"training: {w}" for w in bundle.warnings]


def _print_bundle(bundle) -> None:
    """Who signed the bundle, and its recalibration if it has one."""
    from core.models.recalibration import describe

    print(f"bundle {bundle.bundle_id}: {bundle.provenance().describe()}")
    if recalibration := describe(bundle.content.get("recalibration")):
        print(f"bundle {bundle.bundle_id}: {recalibration}")


def _import(args: argparse.Namespace) -> int:
    from core.analysis_cli import print_warnings
    from core.models.bundle import import_bundle
    from core.store import Study

    with Study.open(args.study) as study:
        bundle = import_bundle(study, args.bundle, args.accept_untrusted)
    print(f"registered {bundle.bundle_id} (sha256 {bundle.sha256[:12]}, trained on "
          f"{bundle.content['training']['centre']}: {bundle.content['training']['n']} patients)")
    _print_bundle(bundle)
    print_warnings(_bundle_warnings(bundle))
    return 0


def _preset(args: argparse.Namespace) -> int:
    import yaml

    from core.models.bundle import Bundle

    preset = Bundle.load(args.bundle).preset()
    Path(args.out).write_text(yaml.safe_dump(preset.params, sort_keys=True))
    print(f"wrote {args.out} (settings hash {preset.settings_hash[:12]})")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Validate first, then record: a refused validation leaves the study as it was."""
    from core.analysis_cli import auc_ci_notes, fmt, print_warnings
    from core.models.bundle import open_bundle, register_bundle
    from core.models.external import validate_bundle
    from core.store import Study

    bundle = open_bundle(args.bundle, args.accept_untrusted)
    with Study.open(args.study, create=False) as study:
        result = validate_bundle(study, bundle, args.center, mask_source=args.mask_source,
                                 allow_other_settings=args.allow_other_settings)
        register_bundle(study, bundle, Path(args.bundle).name)
        study.audit("external validation", {"bundle": bundle.bundle_id, "center": args.center,
                                             "override": bool(result["settings_override"]),
                                             "signature": result["bundle"]["provenance"]["status"]})
    if args.report:
        from core.report import write_report
        write_report(result, args.report, kind="validation")
    _print_bundle(bundle)
    print_warnings([f"training: {w}" for w in bundle.warnings] + result["warnings"] + auc_ci_notes(result))
    print(f"{len(result['range_warnings'])} value(s) outside the training ranges")
    for name, model in result["models"].items():
        m = model["metrics"][args.center]
        print(f"{name:<10} AUC {fmt(m.get('auc'))} ({fmt(m.get('auc_ci_low'))}-{fmt(m.get('auc_ci_high'))})  "
              f"sens {fmt(m.get('sensitivity'))}  spec {fmt(m.get('specificity'))}  "
              f"slope {fmt(m.get('calibration_slope'), 2)}  HL p {fmt(m.get('hl_p'))}")
    if args.predictions:
        import pandas as pd

        from core.exports import write_table
        write_table(pd.DataFrame(result["predictions"][args.center]).assign(center=args.center), args.predictions)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def _recalibrate(args: argparse.Namespace) -> int:
    """Recalibrate first, then record: a refused recalibration leaves the study as it was."""
    from core.analysis_cli import fmt, print_warnings
    from core.models.bundle import open_bundle, register_bundle
    from core.models.external import recalibrate_bundle
    from core.models.recalibration import Update, imprecision
    from core.store import Study

    parent = open_bundle(args.bundle, args.accept_untrusted)
    with Study.open(args.study, create=False) as study:
        new = recalibrate_bundle(study, parent, args.center, args.method, models=tuple(args.models),
                                 mask_source=args.mask_source, allow_other_settings=args.allow_other_settings,
                                 out=args.out)
        register_bundle(study, parent, Path(args.bundle).name)
    record = new.content["recalibration"]
    print(f"registered {new.bundle_id} in {Path(args.study).name}" + (f" and wrote {args.out}" if args.out else ""))
    _print_bundle(new)
    problem = parent.provenance().problem()
    print_warnings(([f"parent {parent.bundle_id}: {problem} (accepted with --accept-untrusted)"] if problem else [])
                   + [w for name, u in record["models"].items()
                      if (w := imprecision(Update.from_dict(u), name, args.center))])
    for name, u in record["models"].items():
        print(f"{name:<10} intercept {fmt(u['intercept'])} ({fmt(u['intercept_ci_low'])} to "
              f"{fmt(u['intercept_ci_high'])})  slope {fmt(u['slope'])}"
              + (f" ({fmt(u['slope_ci_low'])} to {fmt(u['slope_ci_high'])})" if args.method == "logistic" else
                 " (fixed)") + f"  on {u['n']} patients, {u['events']} events")
    return 0


def _risk(args: argparse.Namespace) -> int:
    from core.analysis_cli import print_warnings, uninformative_ci
    from core.models.bundle import open_bundle
    from core.models.risk import patient_risk

    bundle = open_bundle(args.bundle, args.accept_untrusted)
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
    training = bundle.content["training"]
    ci = uninformative_ci("the combined model's risk", result.risk_low, result.risk_high, training["n"],
                          training["events"], parameters=len(bundle.predictors) + 1, percent=True)
    warnings = _bundle_warnings(bundle) + list(result.warnings) + ([ci] if ci else [])
    if args.json:
        print(json.dumps({**result.to_dict(), "warnings": warnings, "bundle": bundle.bundle_id,
                          "provenance": bundle.provenance().to_dict(),
                          "recalibration": bundle.content.get("recalibration")}, indent=1))
        return 0
    _print_bundle(bundle)
    print_warnings(warnings)
    print(f"PTLF risk {100 * result.risk:.1f}% (95% CI {100 * result.risk_low:.1f}-{100 * result.risk_high:.1f}%), "
          f"{'above' if result.above_cutoff else 'below'} the training cut-off {100 * result.cutoff:.1f}%")
    if result.training_percentile is not None:
        print(f"higher than {result.training_percentile:.0f}% of the training patients")
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    from core.models import signing

    identity = signing.local_identity()
    if args.json:
        print(json.dumps({**identity.to_dict(), "home": str(signing.home())}, indent=1))
        return 0
    print(f"fingerprint {identity.fingerprint}\nname        {identity.name}\ncentre      {identity.centre or '-'}\n"
          f"public key  {signing.encode_key(identity.public_key)}\nkey folder  {signing.home()}")
    return 0


def _keys_label(args: argparse.Namespace) -> int:
    from core.models import signing

    identity = signing.set_label(args.name, args.centre)
    print(f"signatures of key {identity.fingerprint} now carry {identity.name!r}"
          + (f" of centre {identity.centre!r}" if identity.centre else ""))
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from core.models import signing

    keys = signing.trusted_keys()
    if args.json:
        print(json.dumps(keys, indent=1))
        return 0
    if not keys:
        print(f"no trusted key in {signing.home()} (this installation's own key is always trusted)")
    for k in keys:
        print(f"{k['fingerprint']}  {k.get('name', '')}" + (f" ({k['centre']})" if k.get("centre") else "")
              + f"  trusted {k.get('added_at', '')}")
    return 0


def _keys_trust(args: argparse.Namespace) -> int:
    from core.models import signing

    name, centre = args.name, args.centre
    if args.bundle:
        from core.models.bundle import Bundle

        bundle = Bundle.load(args.bundle)
        provenance = bundle.provenance()
        if provenance.status in ("unsigned", "invalid"):
            raise ValueError(f"{Path(args.bundle).name}: {provenance.problem()}; no key to trust")
        if provenance.status == "own":
            print(f"{Path(args.bundle).name} is signed by this installation's own key {provenance.fingerprint}, "
                  "which is always trusted")
            return 0
        public = signing.decode_key(bundle.signature["public_key"])
        name, centre = name or provenance.name or "", centre if centre is not None else provenance.centre or ""
    else:
        public = signing.decode_key(args.key)
    found = signing.fingerprint(public)
    if args.fingerprint and args.fingerprint.replace(":", "").lower() != found.replace(":", ""):
        raise ValueError(f"the key's fingerprint is {found}, not {args.fingerprint}: not trusted")
    entry = signing.trust(public, name or "", centre or "")
    print(f"trusted key {entry['fingerprint']} ({entry['name'] or 'no name'}"
          + (f", centre {entry['centre']}" if entry["centre"] else "") + ")")
    return 0


def _keys_untrust(args: argparse.Namespace) -> int:
    from core.models import signing

    entry = signing.untrust(args.fingerprint)
    print(f"removed key {entry['fingerprint']} ({entry.get('name') or 'no name'}) from the trusted keys")
    return 0
