"""Every choice of the paper's analysis, and the clinical predictor selection it starts with.

Kept apart from :mod:`core.analysis` so that the bootstrap's workers
(:mod:`core.internal_validation`) import only what a replicate needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.stats.clinical import MultivariateResult, UnivariateResult, multivariate_logistic, univariate_table
from core.stats.decision import DEFAULT_THRESHOLDS
from core.stats.selection import RadiomicsSelector

BOOTSTRAP_MODES = ("full", "final")


@dataclass(frozen=True)
class AnalysisParams:
    """Every choice of the analysis. Thresholds are P values unless named otherwise.

    clinical_variables: candidate clinical columns (default: all but the outcome);
    clinical_predictors: skip the clinical selection and use these; bootstrap: number of
    replicates for optimism (0 = none); bootstrap_refit: "full" (default) repeats every
    fitted step on each replicate (clinical selection, z-scores, filters, LASSO with its CV,
    top-k, Radscore, the three models), "final" refits only z-scores, Radscore coefficients
    and the models with the selected features and clinical predictors held fixed (faster,
    and optimistic); cv_selection: "inside" refits the Spearman and univariate filters in
    each LASSO CV fold (honest CV deviance), "outside" filters once before the CV as the
    paper did; radscore_coef: "refit" (the paper's unpenalised refit of the top-k features),
    "lasso_min" or "lasso_1se" (the LASSO's shrunken coefficients); workers: processes for
    the bootstrap (default: every core); dca_bootstrap: replicates for net-benefit bands
    (0 = none); harmonise: ComBat of the radiomics features by centre (reference batch: the
    largest training centre; every training centre a batch; a validating centre harmonised on
    its own features, never its outcomes), refitted in every bootstrap replicate; icc_against:
    for a study, the masks whose features are compared with the analysis' own for the ICC
    filter ("reader2", "perturbed" or a segmentation model id; read by ``core.analysis_cli``;
    None: no ICC filter).
    """
    outcome: str = "ptlf"
    clinical_variables: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    clinical_p: float = 0.05
    multivariate_p: float = 0.05
    clinical_predictors: tuple[str, ...] | None = None
    icc_threshold: float = 0.75
    icc_kind: str = "ICC(2,1)"
    spearman: float = 0.8
    univariate_p: float = 0.05
    top_k: int = 10
    lambda_choice: str = "min"
    cv_folds: int = 10
    cv_selection: str = "inside"
    radscore_coef: str = "refit"
    n_lambda: int = 100
    lambda_min_ratio: float | None = None
    method: str = "auto"
    seed: int = 0
    bootstrap: int = 200
    bootstrap_refit: str = "full"
    workers: int | None = None
    harmonise: bool = False
    icc_against: str | None = None
    dca_thresholds: tuple[float, ...] = tuple(DEFAULT_THRESHOLDS.tolist())
    dca_bootstrap: int = 200
    calibration_bins: int = 10
    hl_groups: int = 10
    level: float = 0.95

    def selector(self, fixed_features: list[str] | None = None) -> RadiomicsSelector:
        return RadiomicsSelector(
            icc_threshold=self.icc_threshold, icc_kind=self.icc_kind, spearman_threshold=self.spearman,
            univariate_p=self.univariate_p, top_k=self.top_k, lambda_choice=self.lambda_choice,
            cv_folds=self.cv_folds, n_lambda=self.n_lambda, lambda_min_ratio=self.lambda_min_ratio,
            seed=self.seed, method=self.method, cv_selection=self.cv_selection,
            radscore_coef=self.radscore_coef if fixed_features is None else "refit",
            fixed_features=fixed_features)


def choose_clinical_predictors(clinical: pd.DataFrame, params: AnalysisParams, *, profile: bool = True
                               ) -> tuple[UnivariateResult, MultivariateResult | None, list[str], list[str]]:
    """Univariate table, multivariate model on P < clinical_p, independent predictors, notes.

    No variable passing a step gives no predictors and a note saying so (the clinical and
    combined models are then skipped), not an error.
    """
    variables = list(params.clinical_variables) if params.clinical_variables else [
        c for c in clinical.columns if c != params.outcome]
    categorical = list(params.categorical) if params.categorical else None
    univariate = univariate_table(clinical, params.outcome, variables, categorical=categorical)
    if params.clinical_predictors:
        return univariate, None, list(params.clinical_predictors), []
    candidates = univariate.significant(params.clinical_p)
    if not candidates:
        return univariate, None, [], [
            f"clinical selection: no clinical variable has univariate P < {params.clinical_p}; the clinical and "
            "combined models are not fitted (name the predictors to fit them anyway)"]
    multivariate = multivariate_logistic(clinical, params.outcome, candidates, categorical=categorical,
                                         alpha=params.multivariate_p, method=params.method,
                                         level=params.level, profile=profile)
    if not multivariate.independent_predictors:
        return univariate, multivariate, [], [
            f"clinical selection: no variable keeps P < {params.multivariate_p} in the multivariate model of "
            f"{', '.join(candidates)}; the clinical and combined models are not fitted (name the predictors to "
            "fit them anyway)"]
    return univariate, multivariate, multivariate.independent_predictors, []
