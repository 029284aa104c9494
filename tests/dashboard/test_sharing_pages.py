"""External validation and Patient risk pages with a bundle registered in the study."""
from __future__ import annotations

import pytest

from core.models.bundle import build_bundle
from core.store import Study


def _problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


@pytest.fixture
def with_bundle(app, demo_study, tmp_path):
    """The app with the demo analysis' bundle registered (as another centre would import it)."""
    from core.models.bundle import import_bundle

    with Study.open(demo_study) as study:
        path = build_bundle(study).save(tmp_path / "model.json")
        bundle = import_bundle(study, path)
    app.run()
    return app, bundle


def test_external_validation_page_shows_the_evaluation(with_bundle):
    app, bundle = with_bundle
    app.switch_page("views/external.py").run()
    assert not _problems(app), _problems(app)
    app.selectbox(key="external-centre").set_value("hospital_b").run()
    assert not _problems(app), _problems(app)
    assert {"HTML report", "Results (JSON)"} <= {b.label for b in app.get("download_button")}
    assert any("recalibration" in m.value for m in app.markdown)


def test_patient_risk_page_gives_the_stored_prediction(with_bundle, demo_study):
    app, bundle = with_bundle
    with Study.open(demo_study) as study:
        predictions = study.predictions(bundle.content["analysis_id"])
    app.switch_page("views/patient.py").run()
    app.selectbox(key="risk-centre").set_value("hospital_b").run()
    for patient in app.selectbox(key="risk-patient").options[:2]:  # switching patients takes their values
        app.selectbox(key="risk-patient").set_value(patient).run()
        assert not _problems(app), _problems(app)
        shown = next(m for m in app.metric if m.label == "PTLF risk").value
        expected = predictions.query("center == 'hospital_b' and model == 'combined' and patient_id == @patient")
        assert shown == f"{100 * float(expected['risk'].iloc[0]):.1f}%", patient
