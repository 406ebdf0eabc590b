#!/usr/bin/env bash
# Install R, mice and the packages the side-by-side benchmarks use (Debian 12 / R 4.2, as root).
#
# Usage:
#   bash benchmarks/install_r.sh                   # Debian part only (R, mice, lme4, mitml, ...)
#   bash benchmarks/install_r.sh SOURCES_DIR       # also miceadds, micemd, GJRM from source
#   SKMICE_R_SOURCES=SOURCES_DIR bash benchmarks/install_r.sh
#
# It is idempotent: Debian packages already installed are not reinstalled (apt-get update runs
# only when something is missing), and an R package from source is skipped when the wanted
# version is already installed. skmice itself, and its tests, never need R or this script.
#
# 1. From Debian: r-base-core, r-base-dev (compilers), r-cran-mice (3.15), r-cran-lme4,
#    r-cran-mitml, r-cran-pan, r-cran-jomo, r-cran-jsonlite, and every dependency of the source
#    packages below that Debian has (r-cran-mitools, r-cran-rcpp, r-cran-vgam, ...).
# 2. From source (R CMD INSTALL), in dependency order: the dependencies Debian 12 lacks
#    (ADGofTest, trust, mixmeta, mvmeta, pspline, gamlss.dist, scam, ismev, VineCopula, copula),
#    then GJRM 0.2-6.5 (the last version that ships the `hiv` data), miceadds 3.19-16 and
#    micemd 1.10.1. miceadds 3.20-10 (2026-05) is not used: its new
#    mice_imputation_extract_list_arguments() turns every scalar argument into an unnamed list
#    and so replaces it by the default, which breaks 'ml.lmer' (its own help example stops with
#    "res[, -1, drop = FALSE]: incorrect number of dimensions"); 3.17-44 to 3.19-16 run it with
#    mice 3.15, and 3.19 also handles newer mice's 'calltype'.
#
# Getting the sources. CRAN itself need not be reachable: each package NAME is read from a git
# repository of its CRAN releases, one commit per version ("version X.Y-Z", tagged X.Y-Z). The
# read-only CRAN mirrors on GitHub, github.com/cran/NAME, are such repositories:
#     mkdir -p SOURCES_DIR
#     for n in ADGofTest trust mixmeta mvmeta pspline gamlss.dist scam ismev VineCopula copula \
#              GJRM miceadds micemd; do
#         git clone --bare https://github.com/cran/$n SOURCES_DIR/cran+$n
#     done
# Each repository may sit at SOURCES_DIR/cran+NAME (bare), SOURCES_DIR/cran+NAME/repo (bare, or
# a clone with .git inside), SOURCES_DIR/NAME.git or SOURCES_DIR/NAME. The whole history is
# needed where a version is pinned (GJRM, miceadds, micemd) or where the newest release needs a
# newer R or newer packages than Debian 12 has.
#
# Versions: GJRM=0.2-6.5, miceadds=3.19-16 and micemd=1.10.1 are pinned; every other source
# package takes the newest version whose Depends/Imports/LinkingTo the installed R and packages
# satisfy (older ones are tried in turn, each skip printed). Override with
# SKMICE_R_VERSIONS="NAME=VERSION ..." (e.g. "copula=1.1-2 miceadds=3.17-44"; "NAME=" for newest).
# SKMICE_R_PACKAGES="NAME ..." installs only those source packages (no final check).
set -euo pipefail

SOURCES=${1:-${SKMICE_R_SOURCES:-}}
MAKE_JOBS=${MAKE_JOBS:-$(nproc 2>/dev/null || echo 1)}

say() { printf '[install_r] %s\n' "$*"; }
die() { printf '[install_r] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
DEBIAN_PACKAGES=(
    r-base-core r-base-dev
    r-cran-mice r-cran-lme4 r-cran-mitml r-cran-pan r-cran-jomo r-cran-jsonlite
    # miceadds
    r-cran-mitools r-cran-rcpp r-cran-rcpparmadillo
    # micemd
    r-cran-matrix r-cran-mass r-cran-nlme r-cran-mvtnorm r-cran-digest r-cran-abind
    r-cran-mgcv r-cran-pbivnorm
    # GJRM
    r-cran-magic r-cran-vgam r-cran-survey r-cran-ggplot2 r-cran-matrixstats r-cran-mnormt
    r-cran-rmpfr r-cran-survival r-cran-psych r-cran-numderiv r-cran-evd
    # VineCopula, copula (GJRM's dependencies built from source)
    r-cran-lattice r-cran-colorspace r-cran-gsl r-cran-stabledist r-cran-pcapp
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
if ((${#missing[@]})); then
    say "Debian: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "Debian: all ${#DEBIAN_PACKAGES[@]} packages already installed"
fi
Rscript -e 'cat("[install_r] R", as.character(getRversion()), "/ mice",
                as.character(packageVersion("mice")), "\n")'

if [[ -z "$SOURCES" ]]; then
    say "no source directory given (argument or SKMICE_R_SOURCES): miceadds, micemd, GJRM skipped"
    exit 0
fi
[[ -d "$SOURCES" ]] || die "source directory $SOURCES does not exist"

# ---------------------------------------------------------------------------------------------
# 2. Packages from their source repositories, in dependency order
ALL_SOURCE_PACKAGES=(ADGofTest trust mixmeta mvmeta pspline gamlss.dist scam ismev VineCopula copula
                     GJRM miceadds micemd)
# SKMICE_R_PACKAGES="NAME ..." restricts this run to some of them (still in the order above).
SOURCE_PACKAGES=()
for n in "${ALL_SOURCE_PACKAGES[@]}"; do
    if [[ -z "${SKMICE_R_PACKAGES:-}" || " $SKMICE_R_PACKAGES " == *" $n "* ]]; then
        SOURCE_PACKAGES+=("$n")
    fi
done
((${#SOURCE_PACKAGES[@]})) || die "SKMICE_R_PACKAGES names none of: ${ALL_SOURCE_PACKAGES[*]}"
declare -A PIN=([GJRM]=0.2-6.5 [miceadds]=3.19-16 [micemd]=1.10.1)
for nv in ${SKMICE_R_VERSIONS:-}; do PIN[${nv%%=*}]=${nv#*=}; done

git_dir() { # the git directory holding package $1's history, or nothing
    local c
    for c in "$SOURCES/cran+$1/repo/.git" "$SOURCES/cran+$1/repo" "$SOURCES/cran+$1" \
             "$SOURCES/$1.git" "$SOURCES/$1/.git" "$SOURCES/$1"; do
        [[ -d "$c" ]] || continue
        if git --git-dir="$c" rev-parse -q --verify 'HEAD^{commit}' >/dev/null 2>&1; then
            echo "$c"; return
        fi
    done
}

absent=()
for n in "${SOURCE_PACKAGES[@]}"; do [[ -n "$(git_dir "$n")" ]] || absent+=("$n"); done
if ((${#absent[@]})); then
    die "no repository under $SOURCES for: ${absent[*]}" \
        "(clone github.com/cran/NAME, see the top of this script)"
fi

installed_version() { # installed version of R package $1, or nothing
    Rscript -e 'v <- utils::packageDescription(commandArgs(TRUE)[1], fields = "Version")
                if (!is.na(v)) cat(v)' "$1" 2>/dev/null
}

# Reads a DESCRIPTION on stdin; exits 0 if the running R and the installed packages meet its
# Depends, Imports and LinkingTo, else prints what is unmet and exits 1.
CHECK_DEPS='
d <- read.dcf(file("stdin"))
f <- intersect(c("Depends", "Imports", "LinkingTo"), colnames(d))
deps <- trimws(unlist(strsplit(gsub("\\s+", " ", d[1, f]), ",")))
deps <- deps[nzchar(deps)]
bad <- character()
for (dep in deps) {
    m <- regmatches(dep, regexec("^([A-Za-z0-9.]+) *(\\( *([<>=]+) *([^) ]+) *\\))?$", dep))[[1]]
    if (!length(m)) next
    have <- if (m[2] == "R") as.character(getRversion()) else
        suppressWarnings(utils::packageDescription(m[2], fields = "Version"))
    if (is.na(have)) { bad <- c(bad, paste(m[2], "(not installed)")); next }
    if (nzchar(m[4]) && !do.call(m[4], list(package_version(have), package_version(m[5]))))
        bad <- c(bad, paste0(dep, " (have ", have, ")"))
}
if (length(bad)) { cat(paste(bad, collapse = "; "), "\n"); quit(status = 1) }
'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for n in "${SOURCE_PACKAGES[@]}"; do
    g=$(git_dir "$n")
    want=${PIN[$n]:-}
    have=$(installed_version "$n")
    if [[ -n "$have" && ( -z "$want" || "$have" == "$want" ) ]]; then
        say "$n $have already installed: skipped"
        continue
    fi
    commit=""
    if [[ -n "$want" ]]; then
        commit=$(git --git-dir="$g" rev-parse -q --verify "refs/tags/$want^{commit}" 2>/dev/null) ||
            commit=$(git --git-dir="$g" log --all --format='%H %s' |
                     awk -v s="version $want" 'substr($0, 42) == s { print $1; exit }')
        [[ -n "$commit" ]] || die "$n: no commit for version $want in $g"
        if ! unmet=$(git --git-dir="$g" show "$commit:DESCRIPTION" | Rscript -e "$CHECK_DEPS"); then
            die "$n $want: unmet requirements: $unmet"
        fi
    else
        while read -r c subject; do
            git --git-dir="$g" cat-file -e "$c:DESCRIPTION" 2>/dev/null || continue
            if unmet=$(git --git-dir="$g" show "$c:DESCRIPTION" | Rscript -e "$CHECK_DEPS"); then
                commit=$c; break
            fi
            say "$n: ${subject} skipped: needs $unmet"
        done < <(git --git-dir="$g" log --format='%H %s' HEAD)
        [[ -n "$commit" ]] || die "$n: no version in $g whose requirements are met"
    fi
    version=$(git --git-dir="$g" show "$commit:DESCRIPTION" | sed -n 's/^Version: *//p')
    say "$n: installing $version (commit ${commit:0:10} of $g)${have:+, replacing $have}"
    rm -rf "${tmp:?}/$n"
    mkdir -p "$tmp/$n"
    git --git-dir="$g" archive --format=tar "$commit" | tar -x -C "$tmp/$n"
    MAKEFLAGS="-j$MAKE_JOBS" R CMD INSTALL --no-multiarch "$tmp/$n" >"$tmp/$n.log" 2>&1 ||
        { tail -40 "$tmp/$n.log" >&2; die "R CMD INSTALL $n $version failed"; }
done

# ---------------------------------------------------------------------------------------------
# 3. Check
if [[ -n "${SKMICE_R_PACKAGES:-}" ]]; then
    for n in "${SOURCE_PACKAGES[@]}"; do say "$n $(installed_version "$n")"; done
    say "partial run (SKMICE_R_PACKAGES): the full check is skipped"
    exit 0
fi
Rscript -e '
suppressPackageStartupMessages({
    library(mice); library(miceadds); library(micemd); library(GJRM); library(lme4); library(mitml)
})
data(hiv, package = "GJRM")
cat("[install_r] hiv data:", dim(hiv), "\n")
for (p in c("mice", "miceadds", "micemd", "GJRM", "lme4", "mitml", "pan", "jomo"))
    cat("[install_r]", p, as.character(packageVersion(p)), "\n")
# miceadds ml.lmer on its own three-level example (fails with miceadds 3.20-10)
data(data.ma07, package = "miceadds")
dat <- data.ma07
lev <- setNames(rep("", ncol(dat)), colnames(dat))
lev[c("y1", "y2")] <- "id2"; lev[c("z1", "z2")] <- "id3"
pred <- mice::make.predictorMatrix(dat); pred[, c("id2", "id3")] <- 0; pred["z1", "id3"] <- -2
meth <- mice::make.method(dat); meth[c("x1", "y1")] <- "ml.lmer"; meth["z1"] <- "2lonly.norm"
imp <- suppressWarnings(suppressMessages(mice::mice(dat, m = 1, maxit = 1, method = meth,
    predictorMatrix = pred, levels_id = list(x1 = c("id2", "id3"), y1 = "id3"),
    variables_levels = lev, print = FALSE)))
stopifnot(!anyNA(mice::complete(imp)))
cat("[install_r] miceadds ml.lmer with mice ", as.character(packageVersion("mice")), ": ok\n",
    sep = "")
'
