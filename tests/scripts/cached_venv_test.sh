#!/usr/bin/env bash
# scripts/cached-venv.sh without a network: two concurrent callers get one environment (one
# installs, the other waits), its console scripts run from where it lies (not from the
# staging directory it was installed in), a second call reuses it, and a package pip cannot
# install returns 3 with the sentence and leaves nothing behind (neither the environment nor
# its staging directory), and the staging directory of an install killed before its cleanup
# (SIGKILL) is removed by the next install of that name. The package is a wheel made here; PIP_NO_INDEX keeps pip offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/cached-venv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/cache PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 - "$work" <<'PY'
import sys, zipfile
name = "tenorprobe"
files = {
    f"{name}/__init__.py": "VALUE = 42\n",
    f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    f"{name}-1.0.dist-info/WHEEL":
        "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{name}-1.0.dist-info/entry_points.txt":
        f"[console_scripts]\n{name} = {name}:VALUE\n",
}
files[f"{name}-1.0.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + \
    f"{name}-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(f"{sys.argv[1]}/{name}-1.0-py3-none-any.whl", "w") as z:
    for f, text in files.items():
        z.writestr(f, text)
PY
wheel=$work/tenorprobe-1.0-py3-none-any.whl

# Two callers at once: the same environment, installed once.
( cached_venv probe "$wheel" > "$work/a.out" 2> "$work/a.err" ) &
( cached_venv probe "$wheel" > "$work/b.out" 2> "$work/b.err" ) &
wait %1 || fail "the first concurrent caller failed: $(cat "$work/a.err")"
wait %2 || fail "the second concurrent caller failed: $(cat "$work/b.err")"
venv=$(cat "$work/a.out")
[[ $venv == "$XDG_CACHE_HOME/tenor/probe" && $(cat "$work/b.out") == "$venv" ]] ||
  fail "callers got '$venv' and '$(cat "$work/b.out")'"
installs=$(cat "$work/a.err" "$work/b.err" | grep -c '^installing' || true)
[[ $installs == 1 ]] || fail "installed $installs times, not once"
[[ $("$venv/bin/python" -c 'import tenorprobe; print(tenorprobe.VALUE)') == 42 ]] ||
  fail "the package does not import"
for script in pip tenorprobe; do
  shebang=$(head -1 "$venv/bin/$script")
  [[ $shebang == "#!$venv/bin/python"* ]] || fail "bin/$script starts '$shebang', not $venv"
done
"$venv/bin/pip" --version > /dev/null || fail "bin/pip does not run"

# A second call reuses it without installing.
again=$(cached_venv probe "$wheel" 2> "$work/c.err")
[[ $again == "$venv" ]] && ! grep -q installing "$work/c.err" || fail "the second call installed again"

# A package pip cannot get: 3, the sentence, nothing left.
rc=0
cached_venv broken "no-such-package-tenor==1.0" > /dev/null 2> "$work/d.err" || rc=$?
[[ $rc == 3 ]] || fail "a failed install returned $rc, not 3"
grep -q 'cannot install no-such-package-tenor==1.0' "$work/d.err" || fail "no sentence: $(cat "$work/d.err")"
[[ ! -e $XDG_CACHE_HOME/tenor/broken ]] || fail "a failed install left its environment"
leftovers=$(find "$XDG_CACHE_HOME/tenor" -maxdepth 1 -name '.broken.stage-*' | wc -l)
[[ $leftovers == 0 ]] || fail "a failed install left $leftovers staging directories"

# An install killed mid-way (its trap never ran) left a staging directory: the next install of
# that name removes it; another name's is not touched.
mkdir -p "$XDG_CACHE_HOME/tenor/.killed.stage-abc123/lib" "$XDG_CACHE_HOME/tenor/.other.stage-xyz"
cached_venv killed "$wheel" > /dev/null 2> "$work/e.err" || fail "install after a kill: $(cat "$work/e.err")"
[[ ! -e $XDG_CACHE_HOME/tenor/.killed.stage-abc123 ]] || fail "a killed install's staging directory stayed"
[[ -d $XDG_CACHE_HOME/tenor/.other.stage-xyz ]] || fail "another name's staging directory was removed"
echo "cached-venv: ok"
