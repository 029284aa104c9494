#!/usr/bin/env bash
# The project's GPU checks in one run: the torch engine's equality with PyRadiomics on CUDA (and
# the CPU, same machine), the extraction bench on the full-size case (torch on CUDA and on the
# CPU) and the batch segmentation bench. The GPU machine has no PyRadiomics, duckdb or
# streamlit: `prepare` (here, after `make install`) computes PyRadiomics' values into .gpu/.
#
#   bash scripts/gpu-check.sh prepare                          # here: .gpu/ (about 50 MiB)
#   source .gpu/device-setup.sh; bash scripts/gpu-check.sh run  # there, carrying .gpu
#
# Figures are printed and written under $OUT (default artifacts/gpu/).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
  rm -rf .gpu
  cp -r ../shared/gpu .gpu
  chmod -R u+w .gpu
  mkdir -p .gpu/ct
  cp ../shared/reference/ct/totalsegmentator/example_ct_sm.nii.gz \
     ../shared/reference/ct/totalsegmentator/example_seg.nii.gz .gpu/ct/
  PYTHONPATH=. .venv/bin/python -m tests.radiomics.engine.reference write .gpu/engine_reference.npz
  du -sh .gpu
  ;;
run)
  out=${OUT:-artifacts/gpu}
  mkdir -p "$out"
  export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
  status=0
  echo "== engine equality (every feature of every case, paper and quick) =="
  timeout 240 python3 -m tests.radiomics.engine.reference check .gpu/engine_reference.npz \
    --devices cuda cpu --json "$out/engine_equality.json" || status=1
  echo "== extraction bench: full-size case =="
  timeout 240 python3 bench/extraction.py --engines torch-cuda torch-cpu --params .gpu/engine_reference.npz \
    --ct-folder .gpu/ct --drop-values --json "$out/extraction.json" || status=1
  echo "== segmentation bench =="
  timeout 300 python3 bench/segmentation_gpu.py --n 5 --out "$out" || status=1
  exit $status
  ;;
*)
  echo "usage: bash scripts/gpu-check.sh prepare|run" >&2
  exit 2
  ;;
esac
