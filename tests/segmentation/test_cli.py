"""The ``segment`` command line, and the GPU path importing without the study database."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from core.segmentation.cli import register

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("export", "train", "evaluate", "predict", "import-model", "export-model")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="core")
    register(parser.add_subparsers(dest="verb", required=True))
    return parser


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_help_and_needs_a_study(step, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["segment", step, "--help"])
    assert exit_.value.code == 0 and "--study" in capsys.readouterr().out


def test_predict_options():
    args = _parser().parse_args(["segment", "predict", "--study", "s.duckdb", "--center", "A", "--no-mirroring",
                                 "--tile-step", "0.7", "--device", "cpu"])
    assert (args.center, args.no_mirroring, args.tile_step, args.device, args.all) == ("A", True, 0.7, "cpu", False)
    assert callable(args.func)


def test_gpu_path_imports_without_duckdb_streamlit_or_pyradiomics():
    code = ("import sys; sys.modules.update(duckdb=None, streamlit=None, radiomics=None); "
            "import core.segmentation.predict, core.segmentation.evaluate, core.segmentation.models, "
            "core.segmentation.train, core.segmentation.cli; "
            "import runpy; runpy.run_path('bench/segmentation_gpu.py', run_name='bench')")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
