#!/usr/bin/env bash
# Install R, mice and the packages the side-by-side benchmarks use (Debian/Ubuntu, as root).
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    r-base-core r-cran-mice r-cran-lme4 r-cran-mitml r-cran-pan r-cran-jomo r-cran-jsonlite
Rscript -e 'library(mice); cat("mice", as.character(packageVersion("mice")), "\n")'
