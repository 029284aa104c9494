"""The readers that work on stored files check them first: extraction (its workers, local paths or
shipped bytes) and the dashboard's volume view refuse a file whose bytes no longer match its name,
even when it is another patient's valid CT, which would otherwise be read without an error."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.radiomics.runner import run_extraction
from core.store import DamagedFileError, Study
from tests.radiomics.conftest import CENTER, make_study


def _swap_image(study: Study, pid: str, other: str) -> tuple[str, Path]:
    """Put patient ``other``'s CT under ``pid``'s name: a valid volume that reads without error."""
    images = study.images(CENTER).set_index("patient_id")
    path = Path(images.loc[pid, "path"])
    path.write_bytes(Path(images.loc[other, "path"]).read_bytes())
    return images.loc[pid, "sha256"], path


@pytest.mark.parametrize("ship", [False, True], ids=["paths", "shipped bytes"])
def test_extraction_fails_the_changed_case_only_naming_its_file(tmp_path, ship):
    with Study.open(make_study(tmp_path, 3)) as study:
        sha, _ = _swap_image(study, "P02", "P03")
        result = run_extraction(study, CENTER, preset="quick", workers=1, ship_files=ship)
        assert sorted(result.failures) == ["P02"] and result.extracted == 2
        assert result.failures["P02"].startswith("DamagedFileError: image of patient P02: ")
        assert f"{sha}.nii.gz changed on disk" in result.failures["P02"]
        assert set(study.features(CENTER)["patient_id"]) == {"P01", "P03"}


def test_volume_view_refuses_a_changed_file(tmp_path):
    from dashboard import session

    with Study.open(make_study(tmp_path, 2)) as study:
        sha, path = _swap_image(study, "P01", "P02")
    with pytest.raises(DamagedFileError, match=rf"{sha}.nii.gz changed on disk"):
        session.volume(sha, str(path))
