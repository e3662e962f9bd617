#!/usr/bin/env bash
# Installs the local BigQuery emulator (local-bigquery 0.4.0) into .resilience/emulators/bigquery/.
#
# Idempotent: a stamp file records what was installed, so a second run returns at once. Run by
# `make test` before the tests; the pytest fixture in tests/bigquery_emulator.py only starts what this
# script installed and fails (never skips) when it is missing.
#
# Recipe and reasons: /work/shared/notes/emulators.md ("local-bigquery 0.4.0").
set -euo pipefail

LOCAL_BIGQUERY_VERSION="0.4.0"
# local-bigquery declares duckdb>=2.0.0, but 2.0.0 ships no extension wheels; 1.5.5 works and has them.
DUCKDB_VERSION="1.5.5"
DUCKDB_EXTENSIONS=(icu ducklake spatial)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${ROOT}/.resilience/emulators/bigquery"
VENV="${BASE}/venv"
# The emulator gets its own HOME: DuckDB looks for extensions under $HOME/.duckdb and would otherwise
# try to download them at run time, which fails offline.
ISOLATED_HOME="${BASE}/home"
EXTENSION_DIR="${ISOLATED_HOME}/.duckdb/extensions/v${DUCKDB_VERSION}/linux_amd64"
STAMP="${BASE}/installed.stamp"
STAMP_CONTENT="local-bigquery==${LOCAL_BIGQUERY_VERSION} duckdb==${DUCKDB_VERSION} extensions=${DUCKDB_EXTENSIONS[*]}"

log() { printf 'setup-bigquery-emulator: %s\n' "$*" >&2; }

is_installed() {
    [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${STAMP_CONTENT}" && -x "${VENV}/bin/local-bigquery" ]] || return 1
    local name
    for name in "${DUCKDB_EXTENSIONS[@]}"; do
        [[ -f "${EXTENSION_DIR}/${name}.duckdb_extension" ]] || return 1
    done
}

# Fast path before taking the lock: `make test` runs this every time.
if is_installed; then
    exit 0
fi

mkdir -p "${BASE}"
# Two `make test` started together must not build the same venv at once.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${BASE}/.setup.lock"
    flock 9
    if is_installed; then
        exit 0
    fi
fi

find_python() {
    # A pyenv shim named python3.13 exists even when 3.13 is not the selected version and then fails
    # to run, so every candidate is asked for its version rather than trusted by name.
    local candidates=(python3.13 python3.14 python3)
    if command -v pyenv >/dev/null 2>&1; then
        local pyenv_root
        pyenv_root="$(pyenv root)"
        candidates+=("${pyenv_root}"/versions/3.13*/bin/python3 "${pyenv_root}"/versions/3.14*/bin/python3)
    fi
    local candidate
    for candidate in "${candidates[@]}"; do
        if "${candidate}" -c 'import sys, venv; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; then
            command -v "${candidate}" || printf '%s\n' "${candidate}"
            return 0
        fi
    done
    return 1
}

if ! PYTHON="$(find_python)"; then
    log "local-bigquery ${LOCAL_BIGQUERY_VERSION} needs Python >= 3.13, and none was found"
    log "(tried python3.13, python3.14, python3 and \$(pyenv root)/versions/3.13*)."
    log "Install one, e.g. 'pyenv install 3.13' or 'apt-get install python3.13 python3.13-venv', then rerun $0."
    exit 1
fi

PIP_LOG="${BASE}/pip.log"
pip_install() {
    # pip's progress and the expected "duckdb>=2.0.0 required" resolver warning are noise on success;
    # on failure the whole log is shown, so errors stay visible.
    if ! "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >>"${PIP_LOG}" 2>&1; then
        log "pip install $* failed; its output (${PIP_LOG}):"
        tail -n 40 "${PIP_LOG}" >&2
        exit 1
    fi
}

log "installing local-bigquery ${LOCAL_BIGQUERY_VERSION} with $("${PYTHON}" --version 2>&1) (${PYTHON}) into ${VENV}"
# No stamp means a missing or half-built venv; a venv cannot be moved into place, so rebuild it here.
rm -rf "${VENV}" "${STAMP}"
: >"${PIP_LOG}"
"${PYTHON}" -m venv "${VENV}"

# Pins of the packages that decide how the emulator parses and answers (measured working together);
# without them a new sqlglot or pydantic release could change the emulator's behaviour under the tests.
CONSTRAINTS="${BASE}/constraints.txt"
cat >"${CONSTRAINTS}" <<'EOF'
sqlglot==30.30.0
fastapi==0.165.0
starlette==1.10.0
pydantic==2.14.3
uvicorn==0.54.0
EOF

pip_install -c "${CONSTRAINTS}" "local-bigquery==${LOCAL_BIGQUERY_VERSION}"
extension_packages=()
for name in "${DUCKDB_EXTENSIONS[@]}"; do
    extension_packages+=("duckdb-extension-${name}==${DUCKDB_VERSION}")
done
pip_install "duckdb==${DUCKDB_VERSION}" "${extension_packages[@]}"

mkdir -p "${EXTENSION_DIR}"
for name in "${DUCKDB_EXTENSIONS[@]}"; do
    found=("${VENV}"/lib/python3*/site-packages/duckdb_extension_"${name}"/extensions/v"${DUCKDB_VERSION}"/"${name}".duckdb_extension)
    if [[ ! -f "${found[0]}" ]]; then
        log "the wheel duckdb-extension-${name}==${DUCKDB_VERSION} holds no ${name}.duckdb_extension; cannot continue"
        exit 1
    fi
    cp "${found[0]}" "${EXTENSION_DIR}/"
done

# Prove the extensions load from the isolated HOME without the network before declaring success.
if ! HOME="${ISOLATED_HOME}" "${VENV}/bin/python" - "${DUCKDB_VERSION}" "${DUCKDB_EXTENSIONS[@]}" <<'EOF'
import sys

import duckdb

expected_version, *extensions = sys.argv[1:]
if duckdb.__version__ != expected_version:
    sys.exit(f"duckdb {duckdb.__version__} is installed, expected {expected_version}")
connection = duckdb.connect()
connection.execute("SET autoinstall_known_extensions = false")
for name in extensions:
    connection.execute(f"LOAD {name}")
EOF
then
    log "DuckDB extensions did not load from ${EXTENSION_DIR}"
    exit 1
fi

printf '%s' "${STAMP_CONTENT}" >"${STAMP}"
log "ready: ${VENV}/bin/local-bigquery (HOME=${ISOLATED_HOME})"
