"""The extraction call against published numbers: PyRadiomics' own baseline for brain1 and the
IBSI digital phantom's reference values (data in ../shared/reference, see its README)."""
from __future__ import annotations

import ast
import math

import pandas as pd

from core.radiomics import Preset, extract_case

CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _preset(name: str, settings: dict) -> Preset:
    """Original image, the seven 3D classes, ``settings`` (None values dropped: PyRadiomics defaults)."""
    settings = {k: v for k, v in settings.items() if v is not None}
    return Preset.from_params(name, {"setting": {**settings, "additionalInfo": False}, "imageType": {"Original": {}},
                                     "featureClass": {c: [] for c in CLASSES}})


# ----------------------------------------------------------------------------- PyRadiomics brain1
def test_brain1_reproduces_the_pyradiomics_baseline_within_3_percent(reference):
    folder = reference / "pyradiomics"
    expected, settings = {}, None
    for cls in CLASSES:
        column = pd.read_csv(folder / "baseline" / f"baseline_{cls}.csv", index_col="featureName")["brain1"]
        config = ast.literal_eval(column["diagnostics_Configuration_Settings"])
        assert settings in (None, config), "brain1 uses one configuration in every class file"
        settings = config
        expected.update({k: float(v) for k, v in column.items() if not k.startswith("diagnostics_")})
    assert settings["binWidth"] == 25 and settings["label"] == 1 and settings["resampledPixelSpacing"] is None

    got = extract_case(folder / "brain1_image.nrrd", folder / "brain1_label.nrrd", _preset("brain1", settings),
                       regions={"brain1": 1}).set_index("feature")["value"]
    assert set(got.index) == set(expected), "the same 107 features as the baseline"
    off = {k: (got[k], v) for k, v in expected.items() if not math.isclose(got[k], v, rel_tol=0.03, abs_tol=1e-12)}
    assert not off, f"features more than 3% from PyRadiomics' baseline: {off}"


# ---------------------------------------------------------------------------- IBSI digital phantom
# IBSI feature tag -> PyRadiomics feature (3D; GLCM and GLRLM averaged over 13 directions =
# IBSI "3D_avg"; PyRadiomics' GLDM is IBSI's NGLDM with alpha 0, distance 1). IBSI features
# PyRadiomics does not compute (e.g. stat_medad, ih_mode, morph_moran_i) are not listed.
IBSI = {
    "morph_volume": "shape_MeshVolume", "morph_vol_approx": "shape_VoxelVolume",
    "morph_area_mesh": "shape_SurfaceArea", "morph_av": "shape_SurfaceVolumeRatio",
    "morph_sphericity": "shape_Sphericity", "morph_diam": "shape_Maximum3DDiameter",
    "morph_pca_elongation": "shape_Elongation", "morph_pca_flatness": "shape_Flatness",
    "morph_pca_maj_axis": "shape_MajorAxisLength", "morph_pca_min_axis": "shape_MinorAxisLength",
    "morph_pca_least_axis": "shape_LeastAxisLength",
    "stat_mean": "firstorder_Mean", "stat_var": "firstorder_Variance", "stat_skew": "firstorder_Skewness",
    "stat_kurt": "firstorder_Kurtosis", "stat_median": "firstorder_Median", "stat_min": "firstorder_Minimum",
    "stat_p10": "firstorder_10Percentile", "stat_p90": "firstorder_90Percentile", "stat_max": "firstorder_Maximum",
    "stat_iqr": "firstorder_InterquartileRange", "stat_range": "firstorder_Range",
    "stat_mad": "firstorder_MeanAbsoluteDeviation", "stat_rmad": "firstorder_RobustMeanAbsoluteDeviation",
    "stat_energy": "firstorder_Energy", "stat_rms": "firstorder_RootMeanSquared",
    "ih_entropy": "firstorder_Entropy", "ih_uniformity": "firstorder_Uniformity",
    **{f"cm_{tag}_3D_avg": f"glcm_{name}" for tag, name in {
        "joint_max": "MaximumProbability", "joint_avg": "JointAverage", "joint_var": "SumSquares",
        "joint_entr": "JointEntropy", "diff_avg": "DifferenceAverage", "diff_var": "DifferenceVariance",
        "diff_entr": "DifferenceEntropy", "sum_avg": "SumAverage", "sum_entr": "SumEntropy",
        "energy": "JointEnergy", "contrast": "Contrast", "dissimilarity": "DifferenceAverage", "inv_diff": "Id",
        "inv_diff_norm": "Idn", "inv_diff_mom": "Idm", "inv_diff_mom_norm": "Idmn", "inv_var": "InverseVariance",
        "corr": "Correlation", "auto_corr": "Autocorrelation", "clust_tend": "ClusterTendency",
        "clust_shade": "ClusterShade", "clust_prom": "ClusterProminence", "info_corr1": "Imc1",
        "info_corr2": "Imc2"}.items()},
    **{f"rlm_{tag}_3D_avg": f"glrlm_{name}" for tag, name in {
        "sre": "ShortRunEmphasis", "lre": "LongRunEmphasis", "lgre": "LowGrayLevelRunEmphasis",
        "hgre": "HighGrayLevelRunEmphasis", "srlge": "ShortRunLowGrayLevelEmphasis",
        "srhge": "ShortRunHighGrayLevelEmphasis", "lrlge": "LongRunLowGrayLevelEmphasis",
        "lrhge": "LongRunHighGrayLevelEmphasis", "glnu": "GrayLevelNonUniformity",
        "glnu_norm": "GrayLevelNonUniformityNormalized", "rlnu": "RunLengthNonUniformity",
        "rlnu_norm": "RunLengthNonUniformityNormalized", "r_perc": "RunPercentage",
        "gl_var": "GrayLevelVariance", "rl_var": "RunVariance", "rl_entr": "RunEntropy"}.items()},
    **{f"szm_{tag}_3D": f"glszm_{name}" for tag, name in {
        "sze": "SmallAreaEmphasis", "lze": "LargeAreaEmphasis", "lgze": "LowGrayLevelZoneEmphasis",
        "hgze": "HighGrayLevelZoneEmphasis", "szlge": "SmallAreaLowGrayLevelEmphasis",
        "szhge": "SmallAreaHighGrayLevelEmphasis", "lzlge": "LargeAreaLowGrayLevelEmphasis",
        "lzhge": "LargeAreaHighGrayLevelEmphasis", "glnu": "GrayLevelNonUniformity",
        "glnu_norm": "GrayLevelNonUniformityNormalized", "zsnu": "SizeZoneNonUniformity",
        "zsnu_norm": "SizeZoneNonUniformityNormalized", "z_perc": "ZonePercentage",
        "gl_var": "GrayLevelVariance", "zs_var": "ZoneVariance", "zs_entr": "ZoneEntropy"}.items()},
    **{f"ngt_{tag}_3D": f"ngtdm_{name}" for tag, name in {
        "coarseness": "Coarseness", "contrast": "Contrast", "busyness": "Busyness", "complexity": "Complexity",
        "strength": "Strength"}.items()},
    **{f"ngl_{tag}_3D": f"gldm_{name}" for tag, name in {
        "lde": "SmallDependenceEmphasis", "hde": "LargeDependenceEmphasis", "lgce": "LowGrayLevelEmphasis",
        "hgce": "HighGrayLevelEmphasis", "ldlge": "SmallDependenceLowGrayLevelEmphasis",
        "ldhge": "SmallDependenceHighGrayLevelEmphasis", "hdlge": "LargeDependenceLowGrayLevelEmphasis",
        "hdhge": "LargeDependenceHighGrayLevelEmphasis", "glnu": "GrayLevelNonUniformity",
        "dcnu": "DependenceNonUniformity", "dcnu_norm": "DependenceNonUniformityNormalized",
        "gl_var": "GrayLevelVariance", "dc_var": "DependenceVariance", "dc_entr": "DependenceEntropy"}.items()},
}


def _ibsi_convention(tag: str, value: float, voxels: int) -> float:
    """PyRadiomics' documented departures from IBSI, undone so the rest can be compared:
    kurtosis is not excess kurtosis (IBSI + 3); the PCA axis lengths use the covariance with
    N - 1 (numpy's default) where IBSI divides by N, a factor sqrt(N / (N - 1))."""
    if tag == "stat_kurt":
        return value - 3
    if tag in ("morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_least_axis"):
        return value * math.sqrt(voxels / (voxels - 1))
    return value


def test_ibsi_digital_phantom_matches_the_reference_values(reference):
    folder = reference / "ibsi"
    table = pd.read_csv(folder / "ibsi1_digital_phantom_reference_values.csv").set_index("feature_tag")
    # The phantom's configuration: no resampling or re-segmentation, fixed bin size 1 from the
    # minimum grey level 1 (PyRadiomics' edges at multiples of binWidth give the same bins here).
    got = extract_case(folder / "phantom.nii.gz", folder / "mask.nii.gz", _preset("ibsi", {"binWidth": 1}),
                       regions={"roi": 1}).set_index("feature")["value"]
    voxels = round(got["original_shape_VoxelVolume"] / 8.0)   # 2 x 2 x 2 mm voxels
    assert voxels == 74
    off = {}
    for tag, name in IBSI.items():
        ref, tol = table.loc[tag, "reference_value"], table.loc[tag, "tolerance"]
        value = _ibsi_convention(tag, got[f"original_{name}"], voxels)
        # the reference values are given to 3 significant digits with tolerance 0
        rounding = 0.5 * 10 ** (math.floor(math.log10(abs(ref))) - 2) if ref else 1e-9
        if abs(value - ref) > max(tol, rounding) + 1e-12:
            off[tag] = (value, ref)
    assert len(IBSI) >= 100 and not off, f"features outside the IBSI reference: {off}"
