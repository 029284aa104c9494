"""External validation and Patient risk pages with a bundle registered in the study: the evaluation,
the signer and trust, trusting a key from the page, saving a recalibration and using it for a patient."""
from __future__ import annotations

import pytest

from core.models import signing
from core.models.bundle import build_bundle, import_bundle, stored_bundle
from core.models.risk import patient_risk
from core.store import Study


def _problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


@pytest.fixture(autouse=True)
def key_home(tmp_path, monkeypatch):
    """This installation's key folder for the test (never the user's own)."""
    monkeypatch.setenv(signing.HOME_VARIABLE, str(tmp_path / "key-home"))
    return tmp_path / "key-home"


@pytest.fixture
def with_bundle(app, demo_study, tmp_path):
    """The app with the demo analysis' bundle registered (as another centre would import it)."""
    with Study.open(demo_study) as study:
        path = build_bundle(study).save(tmp_path / "model.json")
        bundle = import_bundle(study, path)
    app.run()
    return app, bundle


def test_external_validation_page_shows_the_evaluation(with_bundle):
    app, bundle = with_bundle
    app.switch_page("views/external.py").run()
    assert not _problems(app), _problems(app)
    app.selectbox(key="external-bundle").set_value(bundle.bundle_id).run()
    app.selectbox(key="external-centre").set_value("hospital_b").run()
    assert not _problems(app), _problems(app)
    assert {"HTML report", "Results (JSON)"} <= {b.label for b in app.get("download_button")}
    assert any(s.value == "Recalibration for this centre" for s in app.subheader)
    assert [t.label for t in app.tabs] == ["Intercept-only update", "Logistic recalibration"]
    assert any("signed by" in c.value and "this installation's own key" in c.value for c in app.caption)


def test_patient_risk_page_gives_the_stored_prediction(with_bundle, demo_study):
    app, bundle = with_bundle
    with Study.open(demo_study) as study:
        predictions = study.predictions(bundle.content["analysis_id"])
    app.switch_page("views/patient.py").run()
    app.selectbox(key="risk-bundle").set_value(bundle.bundle_id).run()
    app.selectbox(key="risk-centre").set_value("hospital_b").run()
    for patient in app.selectbox(key="risk-patient").options[:2]:  # switching patients takes their values
        app.selectbox(key="risk-patient").set_value(patient).run()
        assert not _problems(app), _problems(app)
        shown = next(m for m in app.metric if m.label == "PTLF risk").value
        expected = predictions.query("center == 'hospital_b' and model == 'combined' and patient_id == @patient")
        assert shown == f"{100 * float(expected['risk'].iloc[0]):.1f}%", patient


def test_saved_recalibration_gives_the_patient_risk(with_bundle, demo_study):
    app, bundle = with_bundle
    app.switch_page("views/external.py").run()
    app.selectbox(key="external-bundle").set_value(bundle.bundle_id).run()
    app.selectbox(key="external-centre").set_value("hospital_b").run()
    app.radio(key="recal-method").set_value("intercept").run()
    app.button(key="recal-save").click().run()
    assert not _problems(app), _problems(app)
    with Study.open(demo_study) as study:  # the app holds the file open read-write in this process
        new_id = app.session_state["recal-saved"]
        new = stored_bundle(study, new_id)
        clinical = study.clinical("hospital_b")
        features = study.features_wide("hospital_b", "manual", new.settings_hash)
    record = new.content["recalibration"]
    assert record["parent_sha256"] == bundle.sha256 and record["centre"] == "hospital_b"
    assert any(f"Saved {new_id}" in s.value for s in app.success)

    app.switch_page("views/patient.py").run()
    app.selectbox(key="risk-bundle").set_value(new_id).run()
    app.selectbox(key="risk-centre").set_value("hospital_b").run()
    patient = app.selectbox(key="risk-patient").options[0]
    app.selectbox(key="risk-patient").set_value(patient).run()
    assert not _problems(app), _problems(app)
    values = {p["name"]: clinical.loc[patient, p["name"]] for p in new.predictors}
    expected = patient_risk(new, values, features=features.loc[patient])
    original = patient_risk(bundle, values, features=features.loc[patient])
    assert expected.risk != pytest.approx(original.risk, rel=1e-6)
    shown = next(m for m in app.metric if m.label == "PTLF risk").value
    assert shown == f"{100 * expected.risk:.1f}%"
    assert any("Recalibrated for centre **hospital_b** (intercept" in c.value for c in app.caption)
    assert any("recalibrated for centre 'hospital_b'" in i.value for i in app.info)


def test_bundle_of_an_untrusted_key_is_flagged_and_trusted_from_the_page(with_bundle, demo_study, tmp_path,
                                                                        monkeypatch, key_home):
    app, _ = with_bundle
    monkeypatch.setenv(signing.HOME_VARIABLE, str(tmp_path / "centre-c"))
    signing.set_label("Radiology C", "hospital_c")
    with Study.open(demo_study) as study:
        path = build_bundle(study).save(tmp_path / "other.json")
    fingerprint = signing.local_identity().fingerprint
    monkeypatch.setenv(signing.HOME_VARIABLE, str(key_home))
    with Study.open(demo_study) as study:
        other = import_bundle(study, path, accept_untrusted=True)
    app.switch_page("views/external.py").run()
    app.selectbox(key="external-bundle").set_value(other.bundle_id).run()
    assert any(fingerprint in w.value and "NOT in your trusted keys" in w.value for w in app.warning)
    app.button(key="external-trust").click().run()
    assert not _problems(app), _problems(app)
    assert [k["fingerprint"] for k in signing.trusted_keys()] == [fingerprint]
    assert any(f"with key {fingerprint}: a trusted key (trusted as 'Radiology C' of centre 'hospital_c')" in c.value
               for c in app.caption)
    app.button(key="external-untrust").click().run()
    assert signing.trusted_keys() == []
