# lme4 and mitml reference numbers for skmice.mixed (tests/reference/lme4_mixed.json for one
# grouping factor, tests/reference/lme4_multi.json for several, nested or crossed).
#   Rscript lme4_reference.R manifest.json out.json
# The manifest (written by benchmarks/make_lme4_reference.py) lists
#   fits:  [{name, csv, formula, reml}]           -> lmer on one CSV
#   pools: [{name, csv, formula}]                 -> lmer on every .imp of a long CSV,
#                                                    mitml::testEstimates(extra.pars = TRUE)
# Text columns are read as factors (sorted levels, treatment contrasts: skmice's coding).
suppressMessages({library(lme4); library(mitml); library(jsonlite)})
args <- commandArgs(TRUE)
manifest <- fromJSON(args[1], simplifyVector = FALSE)

TIGHT <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 1e5))

read_data <- function(path) read.csv(path, stringsAsFactors = TRUE)

describe <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  label <- function(v) sub("^[(]Intercept[)]$", "Intercept", v)
  comp <- list()
  for (i in seq_len(nrow(vc))) {
    if (vc$grp[i] == "Residual") {
      comp[["Residual~~Residual"]] <- vc$vcov[i]
    } else if (is.na(vc$var2[i])) {
      comp[[paste0(label(vc$var1[i]), "~~", label(vc$var1[i]), "|", vc$grp[i])]] <- vc$vcov[i]
    } else {
      comp[[paste0(label(vc$var1[i]), "~~", label(vc$var2[i]), "|", vc$grp[i])]] <- vc$vcov[i]
    }
  }
  V <- as.matrix(vcov(fit))
  list(
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(V))),
    vcov = unname(V),
    varcomp = comp,
    sigma2 = sigma(fit)^2,
    loglik = as.numeric(logLik(fit)),
    deviance = if (isREML(fit)) unname(getME(fit, "devcomp")$cmp["REML"]) else deviance(fit),
    theta = unname(getME(fit, "theta")),
    nobs = nobs(fit),
    df_residual = df.residual(fit),
    aic = AIC(fit),
    bic = BIC(fit),
    ngroups = as.list(ngrps(fit)),
    singular = isSingular(fit)
  )
}

out <- list(lme4 = as.character(packageVersion("lme4")),
            mitml = as.character(packageVersion("mitml")),
            R = R.version.string, fits = list(), pools = list())

for (case in manifest$fits) {
  d <- read_data(case$csv)
  t0 <- proc.time()[["elapsed"]]
  fit <- lmer(as.formula(case$formula), data = d, REML = case$reml)
  seconds <- proc.time()[["elapsed"]] - t0
  # the same fit optimised to convergence (lme4's defaults stop at ftol_abs = 1e-8 on the
  # deviance, which leaves up to ~1e-4 in the variance components of larger models)
  tight <- lmer(as.formula(case$formula), data = d, REML = case$reml, control = TIGHT)
  out$fits[[case$name]] <- c(list(formula = case$formula, reml = case$reml,
                                  seconds = seconds), describe(fit),
                             list(tight = describe(tight)))
}

for (case in manifest$pools) {
  imp <- long2mitml.list(read_data(case$csv), split = ".imp")
  # the formula written into the call, as a user types with(imp, lmer(popular ~ ...))
  fits <- eval(bquote(with(imp, lmer(.(str2lang(case$formula)), REML = TRUE))))
  est <- testEstimates(fits, extra.pars = TRUE)
  tab <- est$estimates
  out$pools[[case$name]] <- list(
    formula = case$formula, m = length(fits),
    terms = sub("^[(]Intercept[)]$", "Intercept", rownames(tab)),
    columns = colnames(tab),
    estimates = unname(tab),
    extra_names = rownames(est$extra.pars),
    extra = unname(est$extra.pars[, 1])
  )
}

write_json(out, args[2], auto_unbox = TRUE, digits = NA, pretty = TRUE)
