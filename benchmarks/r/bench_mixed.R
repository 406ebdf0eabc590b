# R's side of benchmarks/bench_mixed.py (mice 3.15, lme4, mitml).
#   Rscript bench_mixed.R export-popmis popmis.csv
#   Rscript bench_mixed.R end-to-end   m maxit seed out.json
#       mice 2l.pan on popmis (popular: school -2, sex 2, texp 1), with(imp, lmer(...)),
#       mitml::testEstimates(extra.pars = TRUE); elapsed seconds of each step
#   Rscript bench_mixed.R analyse      completed_long.csv out.json
#       lmer + testEstimates on given completed datasets (.imp = 1..m)
#   Rscript bench_mixed.R fit          data.csv out.json
#       one lmer fit of the tutorial's model, elapsed seconds
#   Rscript bench_mixed.R fit-formula  data.csv formula out.json
#       one lmer fit (REML) of the given formula, elapsed seconds
suppressMessages({library(mice); library(lme4); library(mitml); library(jsonlite)})
args <- commandArgs(TRUE)
part <- args[1]
elapsed <- function() proc.time()[["elapsed"]]

pooled <- function(fits) {
  est <- testEstimates(fits, extra.pars = TRUE)
  tab <- est$estimates
  list(terms = sub("^[(]Intercept[)]$", "Intercept", rownames(tab)), columns = colnames(tab),
       estimates = unname(tab), extra_names = rownames(est$extra.pars),
       extra = unname(est$extra.pars[, 1]))
}

if (part == "export-popmis") {
  write.csv(popmis[, c("school", "popular", "sex", "texp")], args[2], row.names = FALSE)
}

if (part == "end-to-end") {
  m <- as.integer(args[2]); maxit <- as.integer(args[3])
  d <- popmis[, c("school", "popular", "sex", "texp")]
  pred <- make.predictorMatrix(d); pred[, ] <- 0
  pred["popular", c("school", "sex", "texp")] <- c(-2, 2, 1)
  meth <- setNames(rep("", ncol(d)), names(d)); meth["popular"] <- "2l.pan"
  set.seed(as.integer(args[4]))
  t0 <- elapsed()
  imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred, print = FALSE)
  t1 <- elapsed()
  fits <- with(mids2mitml.list(imp), lmer(popular ~ sex * texp + (1 + sex | school)))
  t2 <- elapsed()
  res <- pooled(fits)
  t3 <- elapsed()
  write_json(c(list(m = m, maxit = maxit, impute_seconds = t1 - t0, analyse_seconds = t2 - t1,
                    pool_seconds = t3 - t2, total_seconds = t3 - t0), res),
             args[5], auto_unbox = TRUE, digits = NA)
}

if (part == "analyse") {
  imp <- long2mitml.list(read.csv(args[2]), split = ".imp")
  t0 <- elapsed()
  fits <- with(imp, lmer(popular ~ sex * texp + (1 + sex | school)))
  t1 <- elapsed()
  res <- pooled(fits)
  write_json(c(list(analyse_seconds = t1 - t0, pool_seconds = elapsed() - t1), res),
             args[3], auto_unbox = TRUE, digits = NA)
}

if (part == "fit") {
  d <- read.csv(args[2])
  t0 <- elapsed()
  fit <- lmer(popular ~ sex * texp + (1 + sex | school), data = d)
  seconds <- elapsed() - t0
  write_json(list(seconds = seconds, fixef = as.list(fixef(fit)),
                  theta = unname(getME(fit, "theta")), loglik = as.numeric(logLik(fit))),
             args[3], auto_unbox = TRUE, digits = NA)
}

if (part == "fit-formula") {
  d <- read.csv(args[2])
  t0 <- elapsed()
  fit <- lmer(as.formula(args[3]), data = d)
  seconds <- elapsed() - t0
  write_json(list(seconds = seconds, fixef = as.list(fixef(fit)),
                  theta = unname(getME(fit, "theta")), loglik = as.numeric(logLik(fit))),
             args[4], auto_unbox = TRUE, digits = NA)
}
