# val_prob.R -> val_prob.json
#
# What: calibration of a fixed logistic model on an external cohort, for
# tests/stats/test_stats_calibration.py:
#   val_prob     rms::val.prob(p, y, pl = FALSE): Dxy, C (ROC), R2, D, D:Chi-sq, U,
#                U:Chi-sq, U:p, Q, Brier, Intercept, Slope, Emax, E90, Eavg, S:z, S:p
#   citl         calibration-in-the-large, glm(y ~ 1, offset = qlogis(p)): coefficient and
#                Wald 95% CI (confint.default)
#   recalibration glm(y ~ qlogis(p)): intercept and slope with Wald 95% CIs
#   hosmer_lemeshow  ResourceSelection::hoslem.test(y, p, g = 10)'s statistic (its code,
#                ResourceSelection 0.3-5, R/hoslem.test.R, is reproduced below: the package
#                is not in Debian), with P on g - 2 df (cohort the model was fitted on) and
#                on g df (a cohort it was not fitted on, Hosmer & Lemeshow's recommendation)
# Data: ValLogRegMod (danielegiardiello/ValLogRegMod @ fcfb2d11, Data/), in the shared
# reference folder as calibration/ValLogRegMod_rdata.csv (development, 544 patients) and
# ValLogRegMod_vdata.csv (validation, 273). The model is
# glm(tum_res ~ ter_pos + preafp + prehcg + sqpost + reduc10, binomial) on rdata; p is its
# predicted risk for the vdata patients (saved, with y, as `p` and `y`).
# Ran with: R 4.2.2 Patched (2022-11-10 r83330), rms 6.5-0, Hmisc 4.8-0 (Debian r-cran-rms),
# jsonlite 1.8.4.
# Usage (from the repository root):
#   Rscript tests/stats/r/val_prob.R ../shared/reference tests/stats/r/val_prob.json
suppressMessages({library(rms); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reference <- if (length(args) >= 1) args[1] else "../shared/reference"
out <- if (length(args) >= 2) args[2] else "tests/stats/r/val_prob.json"

rdata <- read.csv(file.path(reference, "calibration", "ValLogRegMod_rdata.csv"))
vdata <- read.csv(file.path(reference, "calibration", "ValLogRegMod_vdata.csv"))
fit <- glm(tum_res ~ ter_pos + preafp + prehcg + sqpost + reduc10, binomial, rdata,
           control = glm.control(epsilon = 1e-14, maxit = 100))
p <- unname(predict(fit, vdata, type = "response"))
y <- vdata$tum_res
lp <- qlogis(p)

vp <- val.prob(p, y, pl = FALSE)
tight <- glm.control(epsilon = 1e-14, maxit = 100)
citl <- glm(y ~ 1, binomial, offset = lp, control = tight)
recal <- glm(y ~ lp, binomial, control = tight)

hoslem <- function(x, y, g = 10) {           # ResourceSelection::hoslem.test's statistic
  yhat <- y; y <- x
  qq <- unique(quantile(yhat, probs = seq(0, 1, 1 / g)))
  cutyhat <- cut(yhat, breaks = qq, include.lowest = TRUE)
  observed <- xtabs(cbind(y0 = 1 - y, y1 = y) ~ cutyhat)
  expected <- xtabs(cbind(yhat0 = 1 - yhat, yhat1 = yhat) ~ cutyhat)
  list(chisq = sum((observed - expected)^2 / expected), groups = length(unique(cutyhat)))
}
hl <- hoslem(y, p, 10)

result <- list(
  r_version = R.version.string, rms_version = as.character(packageVersion("rms")),
  p = p, y = y,
  val_prob = as.list(vp),
  citl = list(estimate = unname(coef(citl)), ci = unname(confint.default(citl)[1, ])),
  recalibration = list(intercept = unname(coef(recal)[1]), slope = unname(coef(recal)[2]),
                       intercept_ci = unname(confint.default(recal)[1, ]),
                       slope_ci = unname(confint.default(recal)[2, ])),
  hosmer_lemeshow = list(chisq = hl$chisq, groups = hl$groups,
                         df_fitted = hl$groups - 2, p_fitted = 1 - pchisq(hl$chisq, hl$groups - 2),
                         df_external = hl$groups, p_external = 1 - pchisq(hl$chisq, hl$groups)))
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, na = "null"), out)
cat("wrote", out, "\n")
print(vp)
str(result$hosmer_lemeshow)
