#!/usr/bin/env bash
# Mutation testing of abortkit's core modules with mutmut 3 (configuration: the [mutmut]
# section of setup.cfg; results: docs/mutation-testing.md).
#
#   scripts/mutation.sh            # run (resumes: mutants that already have a result keep it)
#   scripts/mutation.sh --fresh    # forget earlier results (mutants/) and run everything
#   MUTMUT_CHILDREN=2 scripts/mutation.sh --fresh
#
# mutmut copies abortkit/ and tests/ into mutants/ (gitignored), runs the selected tests once
# to learn which tests reach which function, then runs, for every mutant, only those tests,
# with pytest -x (stop at the first failure) and pytest-timeout (a hang counts as killed).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTMUT_VERSION="3.8.1"
if ! python -c "import mutmut, sys; sys.exit(mutmut.__version__ != '$MUTMUT_VERSION')" 2>/dev/null; then
    python -m pip install -q "mutmut==$MUTMUT_VERSION"
fi
python -c "import pytest_timeout" 2>/dev/null || python -m pip install -q "pytest-timeout>=2.3"

if [[ "${1:-}" == "--fresh" ]]; then
    rm -rf mutants
fi

started=$(date +%s)
# mutmut redraws a progress line many times a second: keep only the last state of each line.
mutmut run --max-children "${MUTMUT_CHILDREN:-1}" 2>&1 | tr '\r' '\n' | grep -v '^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]' || true
elapsed=$(( $(date +%s) - started ))

mutmut export-cicd-stats >/dev/null
mutmut results > mutants/not-killed.txt
python - "$elapsed" <<'PY'
import json, sys
stats = json.load(open("mutants/mutmut-cicd-stats.json"))
elapsed = int(sys.argv[1])
killed = stats["killed"] + stats["timeout"]
print(f"mutmut {__import__('mutmut').__version__}: total {stats['total']}, killed {stats['killed']}, "
      f"timeout {stats['timeout']}, survived {stats['survived']}, no tests {stats['no_tests']}, "
      f"suspicious {stats['suspicious']}, skipped {stats['skipped']}; "
      f"score {100 * killed / stats['total']:.1f}% killed; this run took {elapsed // 60} min {elapsed % 60} s")
print("not killed: mutants/not-killed.txt (mutmut show NAME prints a diff)")
PY
