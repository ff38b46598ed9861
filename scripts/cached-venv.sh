# Sourced by the scripts that run a Python reference (benchmarks, tests): one way to get a
# virtual environment of pinned packages, kept in the cache outside the clone so that every
# clone and CI run reuses it.
#   venv=$(cached_venv NAME PACKAGE==VERSION...)
# prints $XDG_CACHE_HOME/tenor/NAME (default ~/.cache/tenor/NAME), installing the packages
# there first when it holds no environment yet: staged in a temporary directory and renamed
# into place only when pip succeeded (an interrupted install leaves nothing half-made), under
# a lock (tests call it concurrently: one installs, the others wait); the staging directories
# an install killed mid-way left (a SIGKILL skips its cleanup) are removed by the next one
# under that lock. Returns 3, with a
# sentence on stderr, when pip cannot install them (no network to PyPI).
cached_venv() {
  local name=$1
  shift
  local cache=${XDG_CACHE_HOME:-$HOME/.cache}/tenor
  local venv=$cache/$name
  mkdir -p "$cache"
  (
    exec 9>"$venv.lock"
    flock 9
    if [[ ! -x $venv/bin/python ]]; then
      echo "installing $* into $venv" >&2
      rm -rf "$venv" "$cache/.$name.stage-"*  # under the lock: no install of NAME is running
      stage=$(mktemp -d "$cache/.$name.stage-XXXXXX")
      trap 'rm -rf "$stage"' EXIT
      if ! { python3 -m venv "$stage" >&2 &&
             "$stage/bin/pip" install --quiet --timeout 30 "$@" >&2; }; then
        echo "cannot install $* into $venv (no network to PyPI?); run again with it" >&2
        exit 3
      fi
      mv "$stage" "$venv"
      # pip wrote the staging path into each console script's first line (bin/pip, ...);
      # `venv --upgrade` rewrites the activate scripts only.
      grep -lsI "^#!$stage/" "$venv"/bin/* | xargs -r sed -i "1s|^#!$stage/|#!$venv/|"
      python3 -m venv --upgrade "$venv" >&2  # the activate scripts name their own path
    fi
  ) || return
  echo "$venv"
}

# The site-packages directory that holds the torch of tenor's build (.venv's, from
# scripts/install-deps.sh), for references that run transformers on it rather than download
# torch again; TENOR_REFERENCE_TORCH names another. Returns 3, with a sentence on stderr,
# when there is none.
#   PYTHONPATH=$(torch_site) "$venv/bin/python" ...
torch_site() {
  local site=${TENOR_REFERENCE_TORCH:-} python
  python=$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/python
  if [[ -z $site && -x $python ]]; then
    local where='import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))'
    site=$("$python" -c "$where" 2>/dev/null || true)
  fi
  [[ -n $site && -d $site/torch ]] || {
    echo "no torch to run the reference with: run scripts/install-deps.sh" \
      "or set TENOR_REFERENCE_TORCH" >&2
    return 3
  }
  echo "$site"
}
