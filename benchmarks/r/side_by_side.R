# R's side of benchmarks/side_by_side.py (mice 3.15, miceadds, micemd, GJRM, lme4, mitml).
#   Rscript side_by_side.R export-hiv hiv.csv
#   Rscript side_by_side.R bin      hiv.csv m maxit seed out.json
#   Rscript side_by_side.R heckman  hiv.csv m maxit seed out.json
#   Rscript side_by_side.R popmis   method m maxit seed out.json [completed_long.csv]
#   Rscript side_by_side.R analyse  completed_long.csv out.json
# CPU time is proc.time() user + system of the imputation alone.
suppressMessages({library(mice); library(jsonlite)})
args <- commandArgs(TRUE)
part <- args[1]
cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }

if (part == "export-hiv") {
  data(hiv, package = "GJRM")
  d <- data.frame(region = as.integer(hiv$region), hiv = hiv$hiv, age = hiv$age,
                  married = as.integer(hiv$marital == levels(hiv$marital)[2]),
                  previously_married = as.integer(hiv$marital == levels(hiv$marital)[3]),
                  condom = as.integer(hiv$condom) - 1L, smoke = as.integer(hiv$smoke) - 1L)
  write.csv(d, args[2], row.names = FALSE)
  quit(save = "no")
}

hiv_run <- function(method, codes, m, maxit, seed, out) {
  suppressMessages(library(micemd))
  d <- read.csv(args[2]); d$hiv <- factor(d$hiv, levels = c(0, 1))
  pred <- make.predictorMatrix(d); pred[, ] <- 0
  pred["hiv", names(codes)] <- codes
  meth <- setNames(rep("", ncol(d)), names(d)); meth["hiv"] <- method
  set.seed(seed)
  t0 <- cpu()
  imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred, print = FALSE)
  seconds <- cpu() - t0
  miss <- is.na(d$hiv)
  prev <- sapply(1:m, function(i) mean(as.integer(as.character(complete(imp, i)$hiv))))
  untested <- sapply(1:m, function(i)
    mean(as.integer(as.character(complete(imp, i)$hiv))[miss]))
  write_json(list(method = method, cpu_seconds = seconds, m = m, maxit = maxit, seed = seed,
                  prevalence = prev, untested = untested), out, auto_unbox = TRUE, digits = 10)
}

if (part == "bin") {
  hiv_run("2l.2stage.bin", c(region = -2, age = 2, married = 2, previously_married = 2,
                             condom = 2, smoke = 2),
          as.integer(args[3]), as.integer(args[4]), as.integer(args[5]), args[6])
}
if (part == "heckman") {
  hiv_run("2l.2stage.heckman", c(region = -2, age = 2, married = 2, previously_married = 2,
                                 condom = 2, smoke = -3),
          as.integer(args[3]), as.integer(args[4]), as.integer(args[5]), args[6])
}

analyse <- function(long) {
  suppressMessages({library(lme4); library(mitml)})
  fits <- lapply(split(long, long$.imp), function(d)
    lmer(popular ~ sex * texp + (1 + sex | school), data = d, REML = TRUE))
  est <- testEstimates(as.mitml.result(fits), extra.pars = TRUE)
  ex <- est$extra.pars
  vc <- lapply(fits, function(f) as.data.frame(VarCorr(f)))
  pick <- function(v, i) sapply(vc, function(x) x$vcov[i])
  row <- function(pattern) ex[grep(pattern, rownames(ex))[1], 1]
  list(fixed = setNames(as.list(est$estimates[, 1]), rownames(est$estimates)),
       var_intercept = row("^Intercept~~Intercept"), var_sex = row("^sex~~sex"),
       cov = row("^Intercept~~sex"), residual = row("^Residual"), icc = row("^ICC"),
       sd_between_var_sex = sd(pick(vc, 2)), sd_between_residual = sd(pick(vc, 4)),
       extra_names = rownames(ex))
}

if (part == "popmis") {
  suppressMessages(library(miceadds))
  method <- args[2]; m <- as.integer(args[3]); maxit <- as.integer(args[4])
  d <- popmis[, c("school", "popular", "sex", "texp")]
  pred <- make.predictorMatrix(d); pred[, ] <- 0
  pred["popular", c("school", "sex", "texp")] <- c(-2, 2, 1)
  meth <- setNames(rep("", ncol(d)), names(d)); meth["popular"] <- method
  set.seed(as.integer(args[5]))
  t0 <- cpu()
  imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred, print = FALSE)
  seconds <- cpu() - t0
  long <- complete(imp, "long")
  res <- c(list(method = method, cpu_seconds = seconds, m = m, maxit = maxit), analyse(long))
  write_json(res, args[6], auto_unbox = TRUE, digits = 10)
  if (length(args) >= 7) write.csv(long, args[7], row.names = FALSE)
}
if (part == "analyse") {
  write_json(analyse(read.csv(args[2])), args[3], auto_unbox = TRUE, digits = 10)
}
if (part == "export-popmis") {
  write.csv(popmis[, c("school", "popular", "sex", "texp")], args[2], row.names = FALSE)
}
