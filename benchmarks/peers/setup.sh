#!/usr/bin/env bash
# Creates benchmarks/.venv-peers (git-ignored) with river and adtk for `benchmarks/nab.py --peers`.
# A separate environment because adtk needs pandas < 3 and the project runs on pandas 3.
# Usage: bash benchmarks/peers/setup.sh   (again at any time: it installs into the existing venv)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-peers"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c "import adtk, pandas, river; print(f'{__import__(\"sys\").prefix}: river {river.__version__}, adtk {adtk.__version__}, pandas {pandas.__version__}')"
