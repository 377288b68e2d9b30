# Shared helpers for scripts/test, scripts/demo and friends.  Source it; it
# defines functions and these variables:
#   REPO    the repository root
#   SHARED  the project's shared/ folder (beside the repo unless DEVSANDBOX_SHARED says otherwise)
#   CACHE   where venvs and node_modules are kept between runs
# Everything it prints goes to stderr, except the values functions "return" on stdout.

shopt -s inherit_errexit  # failures inside $(...) stop the script too

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${DEVSANDBOX_SHARED:-$REPO/../shared}"
CACHE="${DEVSANDBOX_CACHE:-$HOME/.cache/devsandbox-ci}"
mkdir -p "$CACHE"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# pip_quiet PYTHON ARGS... : `PYTHON -m pip install -q ARGS...`, minus the machine's noise about
# configured local package indexes that do not exist here.
pip_quiet() {
  local py="$1"
  shift
  "$py" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
  return "${PIPESTATUS[0]}"
}

# hash_of FILE... : a short hash of the files' contents (missing files count as empty).
hash_of() {
  local f
  for f in "$@"; do
    echo "== $(basename "$f")"
    cat "$f" 2>/dev/null || true
  done | sha256sum | cut -c1-16
}

# find_python311: print the real path of a CPython 3.11 that can make venvs and build extensions.
find_python311() {
  local py="${DEVSANDBOX_PYTHON311:-}"
  if [[ -z "$py" ]]; then
    py="$(command -v python3.11 || true)"
  fi
  if [[ -z "$py" ]]; then
    "$REPO/scripts/install-system-deps" python3.11 python3.11-venv python3.11-dev
    py=/usr/bin/python3.11
  fi
  # Resolve shims (pyenv) to the interpreter itself.
  py="$("$py" -c 'import sys; print(sys.executable)')"
  if ! "$py" -c 'import ensurepip, venv' 2>/dev/null \
     || [[ ! -f "$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]]; then
    if [[ "$py" == /usr/bin/* ]]; then
      "$REPO/scripts/install-system-deps" python3.11-venv python3.11-dev
    else
      log "error: $py cannot create venvs or has no headers"
      return 1
    fi
  fi
  echo "$py"
}

# find_python313: print the path of a CPython 3.13 (built from Debian's source once, then cached).
find_python313() {
  if [[ -n "${DEVSANDBOX_PYTHON313:-}" ]]; then
    echo "$DEVSANDBOX_PYTHON313"
    return
  fi
  if [[ ! -x "$SHARED/tools/python-from-debian" ]]; then
    log "error: $SHARED/tools/python-from-debian not found (set DEVSANDBOX_SHARED or DEVSANDBOX_PYTHON313)"
    return 1
  fi
  "$SHARED/tools/python-from-debian" 3.13
}

# dev_venv PYTHON : create or reuse a venv with the repo installed editable with its test
# extras, and print the venv's directory.  The venv is keyed by the interpreter, the checkout's
# path (an editable install belongs to one checkout: two checkouts never share a venv, so they
# can be tested at the same time) and pyproject.toml.  The editable install itself (quick: no
# dependencies, no build isolation; it compiles the C extension in place) is redone when the
# build inputs change or the compiled extension is missing.
dev_venv() {
  local py="$1" ver key venv stamp ext_suffix
  ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  key="$(printf '%s\n%s\n%s\n' "$py" "$REPO" "$(hash_of "$REPO/pyproject.toml")" | sha256sum | cut -c1-12)"
  venv="$CACHE/venv-$ver-$key"
  prune_cache
  stamp="$REPO $(hash_of "$REPO/pyproject.toml" "$REPO/hatch_build.py" "$REPO"/adapters/devsandbox/_native/* "$REPO"/server/devsandbox/_native/*)"
  if [[ ! -f "$venv/.complete" ]]; then
    log "creating the Python $ver venv $venv"
    rm -rf "$venv"
    "$py" -m venv "$venv" >&2
    pip_quiet "$venv/bin/python" --upgrade pip >&2
    # Build requirements too, so later rebuilds can skip build isolation.
    pip_quiet "$venv/bin/python" "hatchling>=1.21" "setuptools>=65" >&2
    pip_quiet "$venv/bin/python" -e "$REPO[test]" >&2
    echo "$stamp" >"$venv/.build-stamp"
    touch "$venv/.complete"
  fi
  ext_suffix="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  if [[ "$(cat "$venv/.build-stamp" 2>/dev/null)" != "$stamp" \
        || ! -f "$REPO/adapters/devsandbox/_tracer$ext_suffix" ]]; then
    log "editable install for Python $ver (builds the C extension in place)"
    pip_quiet "$venv/bin/python" --no-deps --no-build-isolation -e "$REPO" >&2
    echo "$stamp" >"$venv/.build-stamp"
  fi
  touch "$venv/.last-used"
  echo "$venv"
}

# prune_cache: delete cached venvs and node folders unused for a week (CI clones, old keys).
prune_cache() {
  local dir
  for dir in "$CACHE"/venv-* "$CACHE"/demo-venv-* "$CACHE"/node/*; do
    [[ -d "$dir" ]] || continue
    if [[ -z "$(find "$dir" -maxdepth 1 -name .last-used -mtime -7 2>/dev/null)" ]] \
       && [[ -z "$(find "$dir" -maxdepth 0 -mtime -1 2>/dev/null)" ]]; then
      log "pruning the unused cache entry $dir"
      rm -rf "$dir"
    fi
  done
}

# node_modules_for DIR : install DIR's package.json/package-lock.json (npm ci) into a cached
# folder keyed by the lockfile, link DIR/node_modules to it, and print its path.
node_modules_for() {
  local dir="$1" key target
  if ! command -v npm >/dev/null; then
    log "error: npm not found"
    return 1
  fi
  key="$(hash_of "$dir/package.json" "$dir/package-lock.json")"
  target="$CACHE/node/$(basename "$dir")-$key"
  if [[ ! -f "$target/.complete" ]]; then
    log "installing node packages for $dir into $target"
    rm -rf "$target"
    mkdir -p "$target"
    cp "$dir/package.json" "$dir/package-lock.json" "$target/"
    (cd "$target" && npm ci --no-audit --no-fund --loglevel=error >&2)
    touch "$target/.complete"
  fi
  touch "$target/.last-used"
  if [[ -L "$dir/node_modules" || ! -e "$dir/node_modules" ]]; then
    ln -sfn "$target/node_modules" "$dir/node_modules"
  fi
  echo "$target/node_modules"
}
