#!/usr/bin/env bash
# Checks the Binder configuration without conda: builds a fresh Python 3.11 virtual environment,
# runs binder/postBuild in it the way repo2docker does (in the repository root, with that
# environment first on PATH and an empty home folder and cache), then executes
# notebooks/03_generate.ipynb in it. binder/environment.yml only adds Python 3.11, gfortran and
# pip from conda-forge; here they are python3.11 and the system gfortran.
#
#   scripts/check_binder_env.sh [FOLDER]
#
# FOLDER (default: a new temporary folder, removed after a successful run) holds the
# environment, the home folder and the cache, a few GB in all. Needs python3.11 (or $PYTHON),
# gfortran and access to PyPI. The repository's own .venv is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

python=${PYTHON:-$(command -v python3.11 || true)}
[ -n "$python" ] || { echo "needs python3.11 (or set PYTHON)" >&2; exit 1; }
command -v gfortran >/dev/null || {
    echo "needs gfortran (conda-forge's gfortran on Binder): apt-get install -y gfortran" >&2
    exit 1
}
if [ $# -ge 1 ]; then
    work=$1
    keep=1
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/binder-check.XXXXXX")
    keep=0
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
echo "check folder: $work"

# pip install -e . can leave spectral_cvae.egg-info in the repository: remove it afterwards
# unless it was already there.
egg_info_existed=0
[ -e spectral_cvae.egg-info ] && egg_info_existed=1
cleanup() {
    if [ "$egg_info_existed" = 0 ] && [ -e "$repo/spectral_cvae.egg-info" ]; then
        echo "removing spectral_cvae.egg-info left by pip install -e"
        rm -rf "$repo/spectral_cvae.egg-info"
    fi
}
trap cleanup EXIT

times=()
timed() {
    local name=$1 start=$SECONDS
    shift
    echo "=== $name"
    "$@"
    times+=("$(printf '%-28s %4d s' "$name" $((SECONDS - start)))")
}

timed "create venv" "$python" -m venv "$work/venv"

# What repo2docker gives postBuild: the environment first on PATH, a home folder of its own,
# the cache in it (nothing from this user's cache is reused).
export PATH="$work/venv/bin:$PATH"
export VIRTUAL_ENV="$work/venv"
export HOME="$work/home"
export SPECTRAL_CVAE_CACHE="$HOME/.cache/spectral-cvae"
unset PYTHONPATH PYTHONHOME XDG_CACHE_HOME XDG_CONFIG_HOME XDG_DATA_HOME \
    JUPYTER_CONFIG_DIR JUPYTER_DATA_DIR JUPYTER_RUNTIME_DIR JUPYTER_PATH
mkdir -p "$HOME"
[ "$(command -v python)" = "$work/venv/bin/python" ] || { echo "venv not first on PATH" >&2; exit 1; }

postbuild() { ./binder/postBuild 2>&1 | tee "$work/postBuild.log"; }
timed "binder/postBuild" postbuild
timed "pip check" python -m pip check
timed "synspec info" spectral-cvae synspec info
timed "notebook 03_generate" python -m pytest --nbval-lax --nbval-current-env \
    notebooks/03_generate.ipynb -p no:cacheprovider

cleanup
echo
echo "wall times:"
printf '  %s\n' "${times[@]}"
grep '^postBuild: .* took ' "$work/postBuild.log" | sed 's/^/    /'
echo
echo "git status --short:"
git -C "$repo" status --short
echo "Binder check passed"
if [ "$keep" = 0 ]; then
    rm -rf "$work"
fi
