# R mice on one degenerate shape: benchmarks/compare_r_failures.py writes the data.
# Usage: Rscript impute_shape.R data.csv method slope seed
# Prints one line: "completed" or "error: <R's message>".
suppressMessages(library(mice))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
method <- args[2]
slope <- args[3]
seed <- as.integer(args[4])
pred <- make.predictorMatrix(d)
pred[, "g"] <- -2
pred["g", ] <- 0
if (slope != "none") pred["y", slope] <- 2
meth <- make.method(d)
meth[meth != ""] <- method
res <- tryCatch({
  imp <- mice(d, m = 5, maxit = 5, method = meth, predictorMatrix = pred, print = FALSE,
              seed = seed)
  if (anyNA(complete(imp, 1))) "error: missing values left" else "completed"
}, error = function(e) paste("error:", gsub("\n", " ", conditionMessage(e))))
cat(res, "\n")
