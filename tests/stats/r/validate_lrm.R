# validate_lrm.R -> validate_lrm.json
#
# What: bootstrap optimism of a fixed logistic model (no variable selection) as
# rms::validate(lrm(...), B = 200) defines it, for tests/stats/test_stats_bootstrap.py:
#   validate   validate()'s table (index.orig, training, test, optimism, index.corrected, n)
#              for Dxy, R2, Intercept, Slope, Emax, D, U, Q, B, g, gp, after set.seed(SEED)
#   indices    the B x n bootstrap samples validate drew (1-based row numbers). rms's
#              predab.resample draws sample(n, replace = TRUE) once per replicate and nothing
#              else from the RNG, so re-seeding and drawing B samples gives the same sets;
#              `checks$indices_equal_validate_debug` confirms it against the training
#              subscripts validate itself prints with debug = TRUE.
#   by_hand    the same optimism computed here from those index sets and validate's own
#              definitions (predab.resample and validate.lrm's `discrim`): per replicate, an
#              ML fit (glm.fit, epsilon 1e-14) on the sample; Dxy = somers2(lp, y) on the
#              sample (training) and on all patients (test); Intercept and Slope 0 and 1 on
#              the training sample, the coefficients of glm(y ~ lp) on all patients (test);
#              B = mean((plogis(lp) - y)^2); optimism = mean(training - test). Also
#              calibration-in-the-large (glm(y ~ 1, offset = lp), 0 on the training sample)
#              and the AUC, which validate does not report.
#   checks     largest |by_hand - validate| over Dxy, Intercept, Slope, B (lrm's own
#              convergence, about 1e-7, is the only difference)
# Data: pROC's aSAH (xrobin/pROC @ ee2877e8, data/aSAH.RData; proc/aSAH.csv in the shared
# reference folder): (outcome == "Poor") ~ age + s100b + ndka, 113 patients.
# Ran with: R 4.2.2 Patched (2022-11-10 r83330), rms 6.5-0, Hmisc 4.8-0 (Debian r-cran-rms),
# jsonlite 1.8.4.
# Usage (from the repository root):
#   Rscript tests/stats/r/validate_lrm.R ../shared/reference tests/stats/r/validate_lrm.json
suppressMessages({library(rms); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reference <- if (length(args) >= 1) args[1] else "../shared/reference"
out <- if (length(args) >= 2) args[2] else "tests/stats/r/validate_lrm.json"
SEED <- 20240611
B <- 200

d <- read.csv(file.path(reference, "proc", "aSAH.csv"))
d$poor <- as.integer(d$outcome == "Poor")
f <- lrm(poor ~ age + s100b + ndka, data = d, x = TRUE, y = TRUE)
n <- nrow(d); X <- cbind(1, f$x); y <- d$poor

set.seed(SEED)
v <- rms::validate(f, B = B)
set.seed(SEED)
indices <- t(sapply(seq_len(B), function(i) sample(n, replace = TRUE)))

# validate's own training subscripts (printed with debug = TRUE), same seed
set.seed(SEED)
printed <- capture.output(rms::validate(f, B = B, debug = TRUE))
starts <- grep("Subscripts of training sample", printed)
ends <- grep("Subscripts of test sample", printed)
debug_indices <- t(sapply(seq_along(starts), function(k) {
  lines <- printed[(starts[k] + 1):(ends[k] - 1)]
  as.integer(unlist(strsplit(trimws(sub("^ *\\[[0-9]+\\]", "", lines)), " +")))
}))

tight <- glm.control(epsilon = 1e-14, maxit = 100)
measures <- function(lp, yy, training) {
  if (training) { intercept <- 0; slope <- 1; citl <- 0 }
  else {
    recal <- coef(suppressWarnings(glm(yy ~ lp, binomial, control = tight)))
    intercept <- recal[[1]]; slope <- recal[[2]]
    citl <- coef(suppressWarnings(glm(yy ~ 1, binomial, offset = lp, control = tight)))[[1]]
  }
  c(Dxy = unname(somers2(lp, yy)["Dxy"]), AUC = unname(somers2(lp, yy)["C"]), Intercept = intercept,
    Slope = slope, B = mean((plogis(lp) - yy)^2), CITL = citl)
}
orig_lp <- drop(X %*% coef(glm.fit(X, y, family = binomial(), control = tight)))
rows <- t(sapply(seq_len(B), function(i) {
  s <- indices[i, ]
  # some samples hold extreme s100b values: "fitted probabilities numerically 0 or 1", not separation
  b <- coef(suppressWarnings(glm.fit(X[s, ], y[s], family = binomial(), control = tight)))
  lp <- drop(X %*% b)
  measures(lp[s], y[s], TRUE) - measures(lp, y, FALSE)
}))
optimism <- colMeans(rows)
apparent <- measures(orig_lp, y, TRUE)
by_hand <- lapply(names(optimism), function(k) list(apparent = unname(apparent[k]), optimism = unname(optimism[k]),
                                                    corrected = unname(apparent[k] - optimism[k])))
names(by_hand) <- names(optimism)
common <- c("Dxy", "Intercept", "Slope", "B")

result <- list(
  r_version = R.version.string, rms_version = as.character(packageVersion("rms")), seed = SEED, B = B,
  validate = lapply(split(unclass(v), row(unclass(v))), function(r) setNames(as.list(r), colnames(v))),
  by_hand = by_hand, indices = indices,
  checks = list(indices_equal_validate_debug = identical(dim(debug_indices), dim(indices)) &&
                  all(debug_indices == indices),
                by_hand_vs_validate_optimism_max_abs = max(abs(optimism[common] - v[common, "optimism"])),
                by_hand_vs_validate_corrected_max_abs = max(abs(apparent[common] - optimism[common] -
                                                                 v[common, "index.corrected"]))))
names(result$validate) <- rownames(v)
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), out)
cat("wrote", out, "\n")
print(v)
str(result$checks)
