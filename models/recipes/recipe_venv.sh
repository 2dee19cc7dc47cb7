# Sourced by the build_*.sh recipes (not run on its own): the one way they make their Python venv.
#
#   recipe_venv VENV PYTHON REQUIREMENTS [PIP_INSTALL_OPTION ...]
#
# Creates VENV with PYTHON unless it exists, refuses a venv that is not Python 3.11, then installs
# the pinned REQUIREMENTS file into it (extra options, e.g. --no-deps, go to pip install).
recipe_venv() {
    local venv=$1 python=$2 requirements=$3
    shift 3
    if [[ ! -x $venv/bin/python ]]; then
        echo "creating venv $venv"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' ||
        { echo "$venv is not a Python 3.11 venv" >&2; exit 1; }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" -r "$requirements"
}
