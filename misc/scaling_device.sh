#!/usr/bin/env bash
# Measure scaling at 4-16 workers on a lent many-core machine with no network.
#
#   bash misc/scaling_device.sh pack          # here: wheels + prepared corpora into .dev/
#   bash misc/scaling_device.sh run [ROUNDS]  # there, from the repo root; results in $OUT
#
# `run` reads SCALING_TOOLS (perf_compare's --tools), SCALING_SCENARIOS
# (default cold) and SCALING_TRACE_WORKERS (default "2 8 16"; empty: no traces).
#
# `pack` needs the network and prepared corpora (misc/corpora.py prepare
# --corpora selfcheck,textual).  It writes .dev/ (keep it out of git with
# `echo /.dev/ >> .git/info/exclude`): wheels for the engine and for this
# checkout (CPython 3.12, the lent machines' python3), and each corpus's
# sources and site-packages, bytecode, shared objects and dist-info left out
# (mypy reads none of them), about 30 MiB.  `run` rebuilds everything from
# .dev/ with that machine's python3 and no index: a venv with the tools, the
# corpora at the places misc/corpora.py expects, then misc/perf_compare.py
# (cold, tools at 0/4/8/16 workers) and one `mypy-split --trace` per corpus
# at 2, 8 and 16 workers for misc/simulate.py, whose predictions from the
# 2-worker trace are printed beside the measured 8 and 16.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.dev
CORPORA=misc/.corpora
PACKED=(selfcheck textual)
TOOLS=mypy:0,mypy:4,mypy:8,mypy:16,split:4,split:8,split:16

pack() {
    local python=${PYTHON:-python}
    rm -rf "$BUNDLE/whl" && mkdir -p "$BUNDLE/whl"
    # The engine's wheel and the packages it and we import, at the versions installed here.
    local pins=()
    for name in mypy librt mypy_extensions typing_extensions pathspec ast_serialize; do
        pins+=("$name==$("$python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")")
    done
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$BUNDLE/whl" "${pins[@]}"
    "$python" -m pip wheel -q --no-deps -w "$BUNDLE/whl" .
    local sdist
    sdist=$(ls "$CORPORA"/downloads/mypy-*.tar.gz)
    cp "$sdist" "$BUNDLE/"
    for corpus in "${PACKED[@]}"; do
        local home=$CORPORA/$corpus
        tar --exclude=__pycache__ --exclude='*.so' --exclude='*.dist-info' --exclude='site-packages/pip' \
            -cJf "$BUNDLE/site-$corpus.tar.xz" -C "$home"/venv/lib/python3.* site-packages
        # A package corpus's own files: its empty config and the prepared mark.
        tar -cf "$BUNDLE/home-$corpus.tar" -C "$home" --exclude=venv --exclude='mypy-*' .
    done
    du -sh "$BUNDLE"
}

unpack() {
    local tools=$1
    # Without ensurepip (a distribution's python3), the outer pip installs into the venv.
    if python3 -m venv "$tools" 2>/dev/null; then
        "$tools/bin/python" -m pip install -q --no-index --no-deps --no-cache-dir "$BUNDLE"/whl/*.whl
    else
        python3 -m venv --without-pip "$tools"
        python3 -m pip --python "$tools/bin/python" install -q --no-index --no-deps --no-cache-dir "$BUNDLE"/whl/*.whl
    fi
    for corpus in "${PACKED[@]}"; do
        local home=$CORPORA/$corpus
        rm -rf "$home" && mkdir -p "$home"
        tar -xf "$BUNDLE/home-$corpus.tar" -C "$home"
        # The corpus's venv: this machine's interpreter, the packed site-packages.
        python3 -m venv --without-pip "$home/venv"
        tar -xJf "$BUNDLE/site-$corpus.tar.xz" -C "$home"/venv/lib/python3.*/
    done
    local sdist
    sdist=$(ls "$BUNDLE"/mypy-*.tar.gz)
    tar -xzf "$sdist" -C "$CORPORA/selfcheck"
    touch "$CORPORA/selfcheck/$(basename "$sdist" .tar.gz)/.prepared"
    mkdir -p "$CORPORA/downloads" && cp "$sdist" "$CORPORA/downloads/"
}

trace_runs() {
    local tools=$1 out=$2
    local sdist
    sdist=$(cd "$CORPORA/selfcheck" && ls -d mypy-*/ | head -1)
    for workers in ${SCALING_TRACE_WORKERS-2 8 16}; do
        (cd "$CORPORA/selfcheck/$sdist" && "$tools/bin/mypy-split" --config-file mypy_self_check.ini \
            --python-executable ../venv/bin/python -p mypy -p mypyc --cache-dir "/tmp/trace-cache-s$workers" \
            --trace "$out/trace-selfcheck-$workers.json" -n "$workers" >/dev/null || true)
        (cd "$CORPORA/textual" && "$tools/bin/mypy-split" --config-file mypy.ini \
            --python-executable venv/bin/python -p textual --cache-dir "/tmp/trace-cache-t$workers" \
            --trace "$out/trace-textual-$workers.json" -n "$workers" >/dev/null || true)
    done
}

run() {
    local rounds=${1:-2}
    local out=${OUT:-/tmp/scaling-out}
    local tools=/tmp/scaling-tools
    mkdir -p "$out"
    export PYTHONUNBUFFERED=1
    {
        echo "== machine"; nproc; python3 --version; grep -m1 'model name' /proc/cpuinfo || true
        echo "== unpack"; time unpack "$tools"
        echo "== traces"; time trace_runs "$tools" "$out"
        if [ -e "$out/trace-selfcheck-2.json" ]; then
            echo "== simulate (from the 2-worker traces)"
            "$tools/bin/python" misc/simulate.py --corpus selfcheck --max-workers 16 --trace "$out/trace-selfcheck-2.json" || true
            "$tools/bin/python" misc/simulate.py --corpus textual --max-workers 16 --trace "$out/trace-textual-2.json" || true
        fi
        echo "== perf_compare"
        "$tools/bin/python" misc/perf_compare.py --tools "${SCALING_TOOLS:-$TOOLS}" \
            --corpora selfcheck,textual --scenarios "${SCALING_SCENARIOS:-cold}" --rounds "$rounds"
    } 2>&1 | tee "$out/scaling.log"
    # Fewer, smaller files come back: the traces in one archive.
    if compgen -G "$out/trace-*.json" >/dev/null; then
        tar -czf "$out/traces.tar.gz" -C "$out" $(cd "$out" && ls trace-*.json) && rm -f "$out"/trace-*.json
    fi
}

case ${1:-} in
    pack) pack ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 pack | run [ROUNDS]" >&2; exit 2 ;;
esac
