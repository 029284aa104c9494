# Random-effects meta-analysis reference values: metafor::rma with method "DL" and "REML" on
# metadat's dat.bcg (BCG vaccine trials, log risk ratios from escalc(measure = "RR")) and on a
# small set of logit-AUCs, as the internal-external validation pools per-centre estimates.
# Writes metafor_rma.json beside this script. Ran with R 4.2.2, metafor 3.8-1, metadat 1.2-0, jsonlite.
suppressMessages({library(metafor); library(jsonlite)})
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list(
  bcg = list(yi = as.numeric(dat$yi), vi = as.numeric(dat$vi)),
  auc = list(yi = qlogis(c(0.81, 0.74, 0.86, 0.69, 0.78)), vi = c(0.021, 0.034, 0.018, 0.045, 0.027))
)
out <- list()
for (name in names(sets)) {
  s <- sets[[name]]
  for (method in c("DL", "REML")) {
    fit <- rma(yi = s$yi, vi = s$vi, method = method)
    pr <- predict(fit)
    out[[paste(name, method, sep = "_")]] <- list(
      yi = s$yi, vi = s$vi, method = method, estimate = as.numeric(fit$b), se = fit$se,
      ci_low = fit$ci.lb, ci_high = fit$ci.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE, q_p = fit$QEp,
      pi_low = pr$pi.lb, pi_high = pr$pi.ub)
  }
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "metafor_rma.json")
