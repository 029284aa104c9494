# confint_glm.R -> confint_glm.json
#
# What: 95% confidence limits of logistic regression coefficients, for
# tests/stats/test_stats_logistic.py:
#   profile  confint(glm(...)): R's profile-likelihood limits (MASS's method: the signed
#            root deviance profiled on a grid, a spline through it, inverted by approx)
#   exact    the same profile-likelihood limits solved exactly: for each coefficient the two
#            roots of deviance(refit with that coefficient fixed) - deviance = qchisq(.95, 1),
#            by uniroot (tol 1e-13) on glm.fit refits (epsilon 1e-14)
#   wald     confint.default(glm(...)): estimate -/+ qnorm(.975) * SE
#   coef     the ML estimates
# on two public data sets:
#   asah       pROC's aSAH (xrobin/pROC @ ee2877e8, data/aSAH.RData, proc/aSAH.csv in the
#              shared reference folder): (outcome == "Poor") ~ age + s100b + ndka, 113 patients
#   vallogreg  ValLogRegMod's development data (danielegiardiello/ValLogRegMod @ fcfb2d11,
#              calibration/ValLogRegMod_rdata.csv): tum_res ~ ter_pos + preafp + prehcg +
#              sqpost + reduc10 (Yes/No factors as 0/1), 544 patients
# Ran with: R 4.2.2 Patched (2022-11-10 r83330), MASS 7.3-58.2 (confint.glm), jsonlite 1.8.4.
# Usage (from the repository root):
#   Rscript tests/stats/r/confint_glm.R ../shared/reference tests/stats/r/confint_glm.json
suppressMessages({library(MASS); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reference <- if (length(args) >= 1) args[1] else "../shared/reference"
out <- if (length(args) >= 2) args[2] else "tests/stats/r/confint_glm.json"
tight <- glm.control(epsilon = 1e-14, maxit = 100)

exact_limits <- function(fit) {
  X <- model.matrix(fit); y <- fit$y
  target <- deviance(fit) + qchisq(0.95, 1)
  se <- sqrt(diag(vcov(fit)))
  t(sapply(seq_along(coef(fit)), function(j) {
    excess <- function(b) deviance(suppressWarnings(glm.fit(X[, -j, drop = FALSE], y, offset = b * X[, j],
                                                            family = binomial(), control = tight))) - target
    b <- coef(fit)[j]
    sapply(c(-1, 1), function(s) {
      far <- b + s * 2 * se[j]
      while (excess(far) < 0) far <- b + 2 * (far - b)
      uniroot(excess, sort(c(b, far)), tol = 1e-13)$root
    })
  }))
}

summarise <- function(fit) {
  ci <- suppressMessages(confint(fit))
  list(names = names(coef(fit)), coef = unname(coef(fit)), profile = unname(ci),
       exact = unname(exact_limits(fit)), wald = unname(confint.default(fit)))
}

asah <- read.csv(file.path(reference, "proc", "aSAH.csv"))
asah$poor <- as.integer(asah$outcome == "Poor")
rdata <- read.csv(file.path(reference, "calibration", "ValLogRegMod_rdata.csv"))
for (v in c("ter_pos", "preafp", "prehcg")) rdata[[v]] <- as.integer(rdata[[v]] == "Yes")

result <- list(
  r_version = R.version.string, mass_version = as.character(packageVersion("MASS")),
  asah = summarise(glm(poor ~ age + s100b + ndka, binomial, asah, control = tight)),
  vallogreg = summarise(glm(tum_res ~ ter_pos + preafp + prehcg + sqpost + reduc10, binomial, rdata,
                            control = tight)))
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), out)
cat("wrote", out, "\n")
for (d in c("asah", "vallogreg")) cat(d, "max |confint - exact| =", max(abs(result[[d]]$profile - result[[d]]$exact)), "\n")
