#!/usr/bin/env bash
# Runs the pinned SAM CLI: `infra/scripts/sam.sh build`, `infra/scripts/sam.sh validate --lint`.
# SAM CLI gets its own Python 3.12 venv (.venv-sam, pins in requirements/sam.txt) because its
# dependencies clash with the dev venv's, and `sam build` looks for python3.12 on PATH to
# build python3.12 functions and to compile the layers' bytecode.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${repo_root}/.venv-sam"
pins="${repo_root}/requirements/sam.txt"

find_python312() {
    if command -v pyenv >/dev/null 2>&1 && pyenv prefix 3.12.1 >/dev/null 2>&1; then
        echo "$(pyenv prefix 3.12.1)/bin/python3.12"
    elif command -v python3.12 >/dev/null 2>&1; then
        command -v python3.12
    else
        echo "sam.sh: Python 3.12 not found (pyenv install 3.12.1, or put python3.12 on PATH)" >&2
        exit 2
    fi
}

python312="$(find_python312)"

# Reinstall when the pins change, so every machine runs the same SAM CLI.
stamp="${venv}/.pins.sha256"
wanted="$(sha256sum "${pins}" | cut -d' ' -f1)"
if [[ ! -x "${venv}/bin/sam" || "$(cat "${stamp}" 2>/dev/null)" != "${wanted}" ]]; then
    "${python312}" -m venv "${venv}"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check -r "${pins}"
    echo "${wanted}" > "${stamp}"
fi

export PATH="$(dirname "${python312}"):${PATH}"
export SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"
# `sam validate` and `sam build` need a region but never call AWS; deploy uses samconfig's.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-1}"
cd "${repo_root}"
exec "${venv}/bin/sam" "$@"
