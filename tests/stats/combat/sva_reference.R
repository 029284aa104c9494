# sva_reference.R -> sva.json
#
# What: sva::ComBat (Johnson et al. 2007, the original implementation) on the fixture
# features.csv (written by neurocombat_reference.py), for tests/stats/test_combat.py:
#   configs        per configuration (par.prior, mean.only, ref.batch; sva has no option to
#                  skip the empirical Bayes step) the harmonised features, patients x
#                  features in the order of features.csv.
#   pooled_frame   a new centre brought into the frame of a ComBat fitted without a reference
#                  batch on centres A and B: ComBat on R + C with ref.batch = "R", where R is
#                  centres A and B rescaled per feature to mean = their grand mean and
#                  variance (divided by n) = their pooled within-centre variance, the location
#                  and scale that ComBat standardises A and B by; C's harmonised rows, for
#                  par.prior TRUE and FALSE.
# Ran with: R 4.2.2 Patched, sva 3.46.0 (Debian r-bioc-sva), jsonlite 1.8.4:
#   Rscript sva_reference.R      (in this folder)
suppressMessages({library(sva); library(jsonlite)})

features <- read.csv("features.csv", check.names = FALSE)
names <- setdiff(colnames(features), c("patient_id", "centre"))
dat <- t(as.matrix(features[, names]))  # features x patients
batch <- features$centre
combat <- function(dat, batch, par, mean_only, ref)
  suppressMessages(ComBat(dat, batch, par.prior = par, mean.only = mean_only, ref.batch = ref))

configs <- list(
  parametric = list(TRUE, FALSE, NULL), parametric_ref_A = list(TRUE, FALSE, "A"),
  nonparametric = list(FALSE, FALSE, NULL), nonparametric_ref_A = list(FALSE, FALSE, "A"),
  mean_only = list(TRUE, TRUE, NULL), mean_only_ref_A = list(TRUE, TRUE, "A"))
out <- lapply(configs, function(cfg) {
  res <- combat(dat, batch, cfg[[1]], cfg[[2]], cfg[[3]])
  list(parametric = cfg[[1]], mean_only = cfg[[2]], ref_batch = if (is.null(cfg[[3]])) NA else cfg[[3]],
       data = unname(t(res)))
})

train <- batch %in% c("A", "B")
x <- dat[, train]
b <- batch[train]
grand_mean <- rowMeans(x)
resid <- x
for (centre in unique(b)) resid[, b == centre] <- x[, b == centre] - rowMeans(x[, b == centre, drop = FALSE])
pooled_var <- rowMeans(resid^2)
centred <- x - rowMeans(x)
reference <- grand_mean + centred / sqrt(rowMeans(centred^2)) * sqrt(pooled_var)
new <- dat[, batch == "C"]
frame <- lapply(c(parametric = TRUE, nonparametric = FALSE), function(par) {
  res <- combat(cbind(reference, new), c(rep("R", ncol(reference)), rep("C", ncol(new))), par, FALSE, "R")
  unname(t(res[, -seq_len(ncol(reference))]))
})

write_json(list(library = paste("sva", packageVersion("sva")), r = R.version.string,
                features = names, configs = out,
                pooled_frame = list(centres = c("A", "B"), new_centre = "C", parametric = frame$parametric,
                                    nonparametric = frame$nonparametric)),
           "sva.json", digits = NA, auto_unbox = TRUE)
