#!/usr/bin/env bash
# Builds the demo study: synthetic cohort -> two centres -> quick radiomics -> analysis -> bundle.
set -euo pipefail
study=${1:-data/demo.duckdb}
cohort=$(dirname "$study")/demo_cohort
py=.venv/bin/python
rm -rf "$study" "${study%.duckdb}.study" "$study.wal" "$cohort"
$py -m core demo --out "$cohort"
$py -m core ingest --study "$study" --center hospital_a --role training --cohort "$cohort/hospital_a"
$py -m core ingest --study "$study" --center hospital_b --role validation --cohort "$cohort/hospital_b"
for center in hospital_a hospital_b; do
  $py -m core extract --study "$study" --center "$center" --preset quick --no-progress
done
# The second reader's masks of 20 training patients, for the reproducibility (ICC) filter.
$py -m core extract --study "$study" --center hospital_a --mask-source reader2 --preset quick --skip-missing-masks --no-progress
$py -m core analyze --study "$study" --train hospital_a --validate hospital_b --no-progress --out "${study%.duckdb}.study/analysis.json" \
  --report "${study%.duckdb}.study/report.html"

# Share the fitted model as a bundle and register it, so the sharing pages have one to show.
$py -m core bundle export --study "$study" --out "${study%.duckdb}.study/model_bundle.json"
$py -m core bundle import --study "$study" --bundle "${study%.duckdb}.study/model_bundle.json"
$py -m core info --study "$study"
