# glmnet_binomial.R -> glmnet_binomial.json
#
# What: glmnet's LASSO logistic path (family = "binomial", alpha = 1, standardize = TRUE,
# glmnet's own lambda sequence, ended by its own rule) and cv.glmnet's deviance curve on
# given folds, for tests/stats/test_stats_lasso.py:
#   path     glmnet(x, y): lambda, a0, beta, df, dev.ratio, nulldev
#   cv       cv.glmnet(x, y, foldid, type.measure = "deviance"): lambda, cvm, cvsd,
#            lambda.min, lambda.1se (and their 1-based indices)
#   cv_user  the same with the user lambda sequence lambda = path$lambda[1:40]
#   stops    where glmnet's rule ends a path it generates (fdev = 1e-5, devmax = 0.999,
#            never before mnlam = 5 lambdas), and that it never ends a user sequence:
#              first5     glmnet(x[, 1:5], y): stops on fdev
#              mnlam      glmnet(x, y, nlambda = 20, lambda.min.ratio = 0.9995): gains are
#                         below fdev from the 2nd lambda on, the path still has 5 lambdas
#              user       glmnet(x, y, lambda = 30 values from 0.2 to 0.1999 lambda_max):
#                         all 30 fitted although the gains are below fdev
#   checks   how cv.glmnet treats its folds (see below), and what glmnet's default
#            convergence threshold costs against the tight one used here
# Convergence: thresh = 1e-30, maxit = 1e7 (coordinate descent to ~1e-10 in every
# coefficient), so that the comparison measures the method, not glmnet's default
# thresh = 1e-7 (which alone moves coefficients by up to `checks$default_thresh_max_abs_beta`).
# Data: glmnet's BinomialExample (cran/glmnet @ 625f6ca6, data/BinomialExample.rda,
# decoded to CSV in the shared reference folder: column y, then V1..V30; 100 x 30).
# Folds: foldid = ((1:100) - 1) %% 5 + 1.
# Ran with: R 4.2.2 Patched (2022-11-10 r83330), glmnet 4.1-6 (Debian r-cran-glmnet),
# jsonlite 1.8.4.
# Usage (from the repository root):
#   Rscript tests/stats/r/glmnet_binomial.R ../shared/reference tests/stats/r/glmnet_binomial.json
suppressMessages({library(glmnet); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reference <- if (length(args) >= 1) args[1] else "../shared/reference"
out <- if (length(args) >= 2) args[2] else "tests/stats/r/glmnet_binomial.json"

d <- read.csv(file.path(reference, "glmnet", "BinomialExample.csv"))
x <- as.matrix(d[, -1]); y <- d$y
foldid <- (seq_len(nrow(x)) - 1) %% 5 + 1
tight <- list(thresh = 1e-30, maxit = 1e7)

path_of <- function(f) list(lambda = f$lambda, a0 = unname(f$a0), beta = unname(t(as.matrix(f$beta))),
                            df = unname(f$df), dev_ratio = f$dev.ratio, nulldev = f$nulldev)
cv_of <- function(cv) list(lambda = cv$lambda, cvm = cv$cvm, cvsd = cv$cvsd, lambda_min = cv$lambda.min,
                           lambda_1se = cv$lambda.1se, index_min = cv$index[1], index_1se = cv$index[2])

fit <- do.call(glmnet, c(list(x, y, family = "binomial"), tight))
cv <- do.call(cv.glmnet, c(list(x, y, family = "binomial", foldid = foldid, type.measure = "deviance",
                                keep = TRUE), tight))
user_lambda <- fit$lambda[1:40]
cv_user <- do.call(cv.glmnet, c(list(x, y, family = "binomial", foldid = foldid, type.measure = "deviance",
                                     lambda = user_lambda), tight))
stops <- list(
  first5 = do.call(glmnet, c(list(x[, 1:5], y, family = "binomial"), tight)),
  mnlam = do.call(glmnet, c(list(x, y, family = "binomial", nlambda = 20, lambda.min.ratio = 0.9995), tight)),
  user = do.call(glmnet, c(list(x, y, family = "binomial",
                                lambda = seq(0.2, 0.1999, length.out = 30) * fit$lambda[1]), tight)))

# How cv.glmnet fits its folds (R/cv.glmnet.raw.R): each fold is a glmnet() call with the
# user's lambda argument (NULL here), i.e. its own lambda sequence and its own early stop,
# predicted at the full-data lambdas by predict(s = lambda) (linear interpolation,
# R/lambda.interp.R). Rebuild the held-out linear predictors both ways:
own <- every <- matrix(NA, nrow(x), length(cv$lambda))
fold_lengths <- integer(0)
for (k in sort(unique(foldid))) {
  w <- foldid == k
  g <- do.call(glmnet, c(list(x[!w, ], y[!w], family = "binomial"), tight))
  own[w, ] <- predict(g, x[w, ], s = cv$lambda)
  g_all <- suppressWarnings(do.call(glmnet, c(list(x[!w, ], y[!w], family = "binomial", lambda = cv$lambda),
                                             tight)))           # may stop short of convergence at the end
  fitted <- predict(g_all, x[w, ])
  every[w, seq_len(ncol(fitted))] <- fitted
  fold_lengths <- c(fold_lengths, length(g$lambda))
}
default_fit <- glmnet(x, y, family = "binomial")
m <- min(length(default_fit$lambda), length(fit$lambda))

result <- list(
  r_version = R.version.string, glmnet_version = as.character(packageVersion("glmnet")),
  thresh = tight$thresh, maxit = tight$maxit, foldid = foldid,
  path = path_of(fit), cv = cv_of(cv), cv_user = cv_of(cv_user), stops = lapply(stops, path_of),
  checks = list(
    fold_path_lengths = fold_lengths,
    fit_preval_vs_own_fold_paths_max_abs = max(abs(cv$fit.preval - own)),
    fit_preval_vs_every_lambda_folds_max_abs = max(abs(cv$fit.preval - every), na.rm = TRUE),
    default_thresh_path_length = length(default_fit$lambda),
    default_thresh_max_abs_beta = max(abs(as.matrix(default_fit$beta)[, 1:m] - as.matrix(fit$beta)[, 1:m]))))
writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), out)
cat("wrote", out, "\n")
str(result$checks)
