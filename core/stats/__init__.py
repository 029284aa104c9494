"""Statistics of the PTLF study: pure functions and estimators, DataFrames/arrays in, results out.

Modules: roc (AUC, DeLong, Youden, confusion metrics), calibration, decision (net benefit),
clinical (Table 2 univariate, Table 3 multivariate), logistic (ML with Firth fallback),
firth, design (categorical coding), icc, lasso (glmnet-style path + CV), selection
(RadiomicsSelector), nomogram, bootstrap (optimism), simulate (synthetic cohorts).
"""
from core.stats.bootstrap import optimism_bootstrap
from core.stats.calibration import calibration_curve, calibration_metrics, hosmer_lemeshow, lowess_calibration
from core.stats.clinical import multivariate_logistic, univariate_table
from core.stats.decision import decision_curve, decision_curve_bands
from core.stats.firth import firth_logit
from core.stats.icc import icc, icc_features
from core.stats.lasso import lasso_logistic_cv, lasso_logistic_path
from core.stats.logistic import detect_separation, fit_logistic
from core.stats.nomogram import Nomogram
from core.stats.roc import (auc_delong, classification_metrics, delong_covariance, delong_test, roc_curve,
                            youden_cutoff)
from core.stats.selection import RadiomicsSelector

__all__ = [
    "auc_delong", "delong_test", "delong_covariance", "roc_curve", "youden_cutoff", "classification_metrics",
    "calibration_metrics", "hosmer_lemeshow", "calibration_curve", "lowess_calibration",
    "decision_curve", "decision_curve_bands",
    "univariate_table", "multivariate_logistic", "fit_logistic", "detect_separation", "firth_logit",
    "icc", "icc_features", "lasso_logistic_path", "lasso_logistic_cv", "RadiomicsSelector",
    "Nomogram", "optimism_bootstrap",
]
