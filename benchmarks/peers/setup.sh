#!/usr/bin/env bash
# Create benchmarks/.venv-peers with the peer libraries (implicit, RecBole) for the
# side-by-side speed comparison.  Idempotent: does nothing when the venv already imports
# everything at the pinned versions.  Only PyPI (and this machine's local wheel mirror) is used.
#
#   bash benchmarks/peers/setup.sh            # create / verify
#   FORCE=1 bash benchmarks/peers/setup.sh    # rebuild from scratch
#   NO_LOCK=1 FORCE=1 bash ...                # ignore peers-freeze.txt (let pip resolve)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEERS_VENV:-$(cd "$HERE/.." && pwd)/.venv-peers}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

# Pins.  torch first and pinned: an unpinned torch would pull the multi-GB CUDA build.
TORCH_PIN="torch==2.13.0"
IMPLICIT_PIN="implicit==0.7.3"
# RecBole 1.2.1 caps ray at <=2.6.3 and pins colorlog==4.7.2 / colorama==0.4.4 itself; it
# predates numpy 2, so numpy==1.26.4, and scipy/pandas are held to releases of its era
# (scipy 1.11.x, pandas 2.0.x).  This exact set was verified to install and run here
# (torch 2.13.0+cpu, python 3.11); scikit-learn, tensorboard, plotly etc. are left to pip.
RECBOLE_PINS=(
  "recbole==1.2.1"
  "numpy==1.26.4"
  "ray==2.6.3"
  "scipy<1.12"
  "pandas<2.1"
  "colorlog==4.7.2"
  "colorama==0.4.4"
  "thop"
  "tabulate"
  "texttable"
  "psutil"
  "pyyaml"
  "tqdm"
)

check() {
  [ -x "$VENV/bin/python" ] || return 1
  OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as md
import torch, implicit, recbole, numpy, ray  # noqa: F401
from recbole.quick_start import run_recbole  # noqa: F401
from implicit.als import AlternatingLeastSquares  # noqa: F401
assert md.version("implicit") == "0.7.3"
assert md.version("recbole") == "1.2.1"
assert md.version("numpy") == "1.26.4"
assert torch.__version__.startswith("2.13.0")
EOF
}

if [ "${FORCE:-0}" != "1" ] && check; then
  echo "peers venv OK: $VENV"
  exit 0
fi

echo "creating peers venv at $VENV (python: $PY)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
"${PIP[@]}" --upgrade pip wheel "setuptools<81"
"${PIP[@]}" "$TORCH_PIN"
install_peers() {
  "${PIP[@]}" "$@" "$TORCH_PIN" "$IMPLICIT_PIN" "numpy==1.26.4" &&
    "${PIP[@]}" "$@" "$TORCH_PIN" "${RECBOLE_PINS[@]}"
}
# peers-freeze.txt (the versions this was verified with) as constraints; without them if that fails
if [ "${NO_LOCK:-0}" = "1" ] || ! install_peers -c "$HERE/peers-freeze.txt"; then
  echo "installing without peers-freeze.txt constraints" >&2
  install_peers
fi

if check; then
  echo "peers venv ready: $VENV"
  "$VENV/bin/python" -m pip list 2>/dev/null | grep -i -E '^(torch|implicit|recbole|numpy|scipy|pandas|ray|scikit-learn) '
else
  echo "peers venv was built but the import check failed; run:" >&2
  echo "  $VENV/bin/python -c 'import torch, implicit, recbole; from recbole.quick_start import run_recbole'" >&2
  exit 1
fi
