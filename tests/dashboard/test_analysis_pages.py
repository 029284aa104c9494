"""The analysis pages on the demo study's stored analysis: what they show and how they respond."""
from __future__ import annotations

import pytest

from dashboard import background, session


def _problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


@pytest.fixture
def analysed(app, demo_study):
    if session.open_study(str(demo_study)).analyses().empty:  # the app's own connection
        pytest.skip("the demo study has no analysis (core.analysis_cli missing)")
    return app


def test_models_page_shows_every_evaluation(analysed):
    at = analysed.switch_page("views/models.py").run()
    assert not _problems(at), _problems(at)
    assert _charts(at) == 3  # ROC, decision curves, calibration
    texts = " ".join(m.value for m in at.markdown)
    assert "DeLong" in texts and "Youden cut-off" in texts
    overview = at.dataframe[0].value
    assert list(overview.columns) == ["Centre", "Clinical", "Radiomics", "Combined"]
    # AUC (CI), 3 decimals; the training centre's optimism-corrected AUC beside it
    assert overview["Combined"].str.match(r"^\d\.\d{3} \(\d\.\d{3}\u2013\d\.\d{3}\)(; corrected \d\.\d{3})?$").all()
    assert overview["Combined"].str.contains("corrected").sum() == 1
    assert any("Internal validation: bootstrap optimism" in i.value for i in at.info)
    # the validation centre
    at.segmented_control(key="models_centre").set_value("hospital_b").run()
    assert not _problems(at) and _charts(at) == 3
    assert "scored only" in " ".join(c.value for c in at.caption)


def test_selection_page(analysed):
    at = analysed.switch_page("views/selection.py").run()
    assert not _problems(at), _problems(at)
    assert any("Radscore =" in c.value for c in at.code)
    assert _charts(at) == 5  # funnel, coefficient path, CV curve, weights, selection stability


def test_moving_a_threshold_updates_the_selection_without_storing(analysed, demo_study):
    at = analysed.switch_page("views/selection.py").run()
    stored = session.open_study(str(demo_study)).analyses()
    before = (at.code[0].value, at.metric[0].value)
    at.number_input(key="w_top_k").set_value(1).run()
    assert not _problems(at), _problems(at)
    assert not at.warning, [w.value for w in at.warning]
    after = (at.code[0].value, at.metric[0].value)
    assert after != before, "keeping one feature changes the Radscore and its apparent AUC"
    assert at.code[0].value.count("(z)") == 1
    assert session.open_study(str(demo_study)).analyses().equals(stored), "exploring stores nothing"
    assert _charts(at) == 4, "stability belongs to the saved analysis' thresholds only"
    assert any("Save as analysis" in c.value for c in at.caption)


def test_nomogram_points_add_up(analysed):
    at = analysed.switch_page("views/nomogram.py").run()
    assert not _problems(at), _problems(at)
    assert _charts(at) == 1
    # a patient of the validation centre fills the values in
    at.selectbox(key="nomo_centre").set_value("hospital_b").run()
    assert not _problems(at)
    points = at.dataframe[0].value
    predictors = points[~points["Predictor"].isin(["Total", "Probability of PTLF"])]
    total = float(points.loc[points["Predictor"] == "Total", "Points"].iloc[0])
    assert abs(predictors["Points"].sum() - total) < 0.5
    assert float(at.metric[0].value) == pytest.approx(total, abs=0.1)
    # changing one value moves the total by that predictor's points
    name = predictors["Predictor"].iloc[0]
    box = next(n for n in at.number_input if n.label == name)
    box.set_value(box.value * 1.1 + 0.1).run()
    assert not _problems(at)
    assert float(at.metric[0].value) != pytest.approx(total, abs=1e-3)


def test_clinical_page_tables(analysed):
    at = analysed.switch_page("views/clinical.py").run()
    assert not _problems(at), _problems(at)
    table2 = at.dataframe[0].value
    assert {"Characteristic", "P"} <= set(table2.columns)
    assert table2["P"].replace("", None).dropna().str.match(r"^(<0\.001|\d\.\d{3})$").all()


def test_fit_from_models_page(analysed, demo_study):
    """'Fit the models' runs the analysis in a background thread; the page shows the new one."""
    at = analysed.switch_page("views/models.py").run()
    before = len(session.open_study(str(demo_study)).analyses())
    at.number_input(key="w_cv_folds").set_value(5)
    at.number_input(key="w_bootstrap").set_value(0)
    at.radio(key="w_predictor_mode").set_value("choose").run()
    at.button(key="models-fit").click().run()
    background.wait_background("analysis", 300)
    at.run()
    assert not _problems(at), _problems(at)
    assert len(session.open_study(str(demo_study)).analyses()) == before + 1
    assert _charts(at) == 3

