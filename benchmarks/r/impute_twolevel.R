# Time R mice on a two-level CSV:
#   Rscript impute_twolevel.R data.csv method m maxit seed out.json [completed_long.csv]
# Columns: cluster, x, w, y1, y2 (see skmice.datasets.make_clustered_regression).
suppressMessages({library(mice); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); meth_name <- args[2]; m <- as.integer(args[3]); maxit <- as.integer(args[4])
seed <- as.integer(args[5]); out <- args[6]
pred <- make.predictorMatrix(d); pred[,] <- 0
pred["y1", c("cluster", "x", "w", "y2")] <- c(-2, 2, 1, 1)
pred["y2", c("cluster", "x", "w", "y1")] <- c(-2, 1, 1, 1)
meth <- setNames(rep("", ncol(d)), names(d)); meth[c("y1", "y2")] <- meth_name
set.seed(seed)
t0 <- proc.time()[["elapsed"]]
imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred, print = FALSE)
t1 <- proc.time()[["elapsed"]]
fit <- with(imp, lm(y2 ~ y1 + x))
est <- summary(pool(fit))
write_json(list(method = meth_name, seconds = t1 - t0, n = nrow(d), m = m, maxit = maxit,
                mean_y1 = mean(sapply(1:m, function(i) mean(complete(imp, i)$y1))),
                mean_y2 = mean(sapply(1:m, function(i) mean(complete(imp, i)$y2))),
                coef_y1 = est$estimate[2]), out, auto_unbox = TRUE, digits = 8)
if (length(args) >= 7) write.csv(complete(imp, "long")[, c(".imp", names(d))], args[7], row.names = FALSE)
