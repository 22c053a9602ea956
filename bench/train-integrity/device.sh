#!/bin/sh
# The GPT task end to end on a GPU host, through the bundled CLI: run from the repository's root
# with a Node binary at $NODE (or .cache/device/node.xz, unpacked here) and dist/ built.
#   sh bench/train-integrity/device.sh replay|tune|overhead OUT_DIR [extra CLI args]
# replay: the honest and cheating patches (setup.py) replayed in one search, then report.py;
# tune:   the built-in tune proposer for the time given (--time), to see what honest search keeps;
# overhead: overhead.py, then one instrumented run of the model under torch.compile.
set -eu
what=$1; out=$2; shift 2
root=$(pwd)
mkdir -p "$out"
if [ -z "${NODE:-}" ]; then
  NODE=/tmp/ratchet-node
  [ -x "$NODE" ] || python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.cache/device/node.xz'), open('$NODE', 'wb'))"
  chmod +x "$NODE"
fi
work=/tmp/ratchet-train-integrity-$what
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || echo "no GPU"
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
python3 bench/train-integrity/setup.py "$work" ${SMALL:+--small} >/dev/null
cd "$work/repo"
case $what in
  replay)
    # ONLY="08 15 16" replays just those patches.
    if [ -n "${ONLY:-}" ]; then
      mkdir -p "$work/only"
      for n in $ONLY; do cp "$work"/patches/"$n"-*.patch "$work/only/"; done
      patches="$work/only"
    else
      patches="$work/patches"
    fi
    "$NODE" "$root/dist/cli.js" search train.py --proposer replay --patches "$patches" "$@" | tee "$out/$what-search.txt"
    "$NODE" "$root/dist/cli.js" log > "$out/$what-log.txt"
    python3 "$root/bench/train-integrity/report.py" "$work" | tee "$out/$what-report.md" ;;
  tune)
    "$NODE" "$root/dist/cli.js" search train.py "$@" | tee "$out/$what-search.txt"
    "$NODE" "$root/dist/cli.js" log > "$out/$what-log.txt" ;;
  overhead)
    cd "$root"
    python3 bench/train-integrity/overhead.py "$work/repo" --out "$out/overhead.json" "$@" | tee "$out/overhead.txt" ;;
esac
cp "$work"/repo/.ratchet/searches/*/journal.jsonl "$out/$what-journal.jsonl" 2>/dev/null || true
