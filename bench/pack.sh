#!/usr/bin/env bash
# Times `bale pack` against the shell pipeline that does the same job
# (canonical-ish tar, gzip -6, sha256 of the blob), on one tree, in one run.
#
#   bench/pack.sh [MB]      default 1000 MB in 50,000 files
#
# The tree is generated deterministically: a mix of text-like and binary-like
# files, so compression behaves as on real packages. Prints a table with the
# median of RUNS runs (default 3) of each, and the ratio bale/pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."

total_mb=${1:-1000}
runs=${RUNS:-3}
files=$(( total_mb * 50 ))
work=bench/work
tree=$work/tree-$total_mb
mkdir -p "$work"

cargo build --release --locked --quiet
bale=$PWD/target/release/bale

if [ ! -f "$tree/.complete" ]; then
  rm -rf "$tree"
  echo "generating $total_mb MB in $files files under $tree ..."
  python3 - "$tree" "$files" "$total_mb" <<'PY'
import os, random, sys
root, files, total_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(5000)]
mean = total_mb * 1_000_000 // files
for i in range(files):
    d = os.path.join(root, f"d{i % 97:02d}", f"s{i % 13}")
    os.makedirs(d, exist_ok=True)
    size = max(1, int(rng.expovariate(1 / mean)))
    if i % 2:
        # text-like: words, compresses about 3:1
        out = bytearray()
        while len(out) < size:
            out += rng.choice(words) + b" "
        data = bytes(out[:size])
    else:
        # binary-like: half random, half repeated, compresses about 1.5:1
        half = size // 2
        data = rng.randbytes(half) + bytes([i % 251]) * (size - half)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
open(os.path.join(root, ".complete"), "w").close()
PY
fi
actual=$(du -sb --exclude=.complete "$tree" | cut -f1)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }

bale_times=(); pipe_times=()
for run in $(seq "$runs"); do
  store=$work/store; rm -rf "$store"
  t0=$(now)
  BALE_HOME=$store "$bale" --quiet pack "$tree" --name bench --version "$run" >/dev/null
  t1=$(now)
  bale_times+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now)
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tree" -c . | gzip -n -6 | sha256sum >/dev/null
  t1=$(now)
  pipe_times+=("$(echo "$t1 - $t0" | bc)")
done
bale_blob=$(find "$work/store/blobs/sha256" -type f -size +1M -printf '%s\n' | sort -n | tail -1)
pipe_blob=$(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tree" -c . | gzip -n -6 | wc -c)
rm -rf "$work/store"

b=$(printf '%s\n' "${bale_times[@]}" | median)
p=$(printf '%s\n' "${pipe_times[@]}" | median)
mbps() { echo "scale=1; $actual / 1000000 / $1" | bc; }
printf '\ntree: %s bytes in %s files; %s cores; median of %s runs\n\n' "$actual" "$files" "$(nproc)" "$runs"
printf '| %-44s | %9s | %9s | %14s |\n' "what" "seconds" "MB/s" "blob bytes"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "-----------" "-----------" "----------------"
printf '| %-44s | %9.2f | %9s | %14s |\n' "bale pack (tar + gzip + 2 sha256 + index)" "$b" "$(mbps "$b")" "$bale_blob"
printf '| %-44s | %9.2f | %9s | %14s |\n' "tar | gzip -n -6 | sha256sum" "$p" "$(mbps "$p")" "$pipe_blob"
printf '\nratio bale/pipeline: %.2f (target: <= 1.00)\n' "$(echo "scale=3; $b / $p" | bc)"
