#!/usr/bin/env bash
# Times `bale build` of the Python example (python3 and its closure from the
# host's mirror, plus the app directory), in one run:
#   cold:    empty store
#   warm:    nothing changed (target: under 0.1 s)
#   update:  one package changed (the app), rebuilt (target: under 0.5 s)
#   push:    bytes sent to a CNCF registry on 127.0.0.1 for the first push
#            and for the push after the update
# Prints a table; medians of RUNS runs (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
cargo build --release --locked --quiet
bale=$PWD/target/release/bale
work=$(mktemp -d)
registry_pid=
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work/registry" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cold=(); warm=(); update=()
for run in $(seq "$runs"); do
  project=$work/project-$run
  cp -r examples/python "$project"
  rm -f "$project/bale.lock"
  export BALE_HOME=$work/store-$run
  t0=$(now); "$bale" --quiet build "$project/bale.toml" --output "$work/image-$run" >/dev/null; t1=$(now)
  cold+=("$(elapsed "$t0" "$t1")")
  t0=$(now); "$bale" --quiet build "$project/bale.toml" --output "$work/image-$run" >/dev/null; t1=$(now)
  warm+=("$(elapsed "$t0" "$t1")")
  if [ "$run" = 1 ]; then
    first_push=$("$bale" --json push "$work/image-$run" "127.0.0.1:$port/bench/python:v1" | jq .bytesSent)
  fi
  echo "print('changed in run $run')" >> "$project/app/srv/app/main.py"
  t0=$(now); "$bale" --quiet build "$project/bale.toml" --output "$work/image-$run" >/dev/null; t1=$(now)
  update+=("$(elapsed "$t0" "$t1")")
  if [ "$run" = 1 ]; then
    update_push=$("$bale" --json push "$work/image-$run" "127.0.0.1:$port/bench/python:v2" | jq .bytesSent)
    size=$(jq '[.layers[].size] | add' <("$bale" --json build "$project/bale.toml" --output "$work/image-$run"))
    layers=$(jq '.layers | length' <("$bale" --json build "$project/bale.toml" --output "$work/image-$run"))
  fi
done

c=$(printf '%s\n' "${cold[@]}" | median); w=$(printf '%s\n' "${warm[@]}" | median); u=$(printf '%s\n' "${update[@]}" | median)
printf '\nbale build examples/python: %s layers, %s bytes compressed; %s cores; median of %s runs\n\n' "$layers" "$size" "$(nproc)" "$runs"
printf '| %-46s | %12s |\n' "what" "value"
printf '|%s|%s|\n' "------------------------------------------------" "--------------"
printf '| %-46s | %10.3f s |\n' "cold build (empty store)" "$c"
printf '| %-46s | %10.3f s |\n' "warm build, nothing changed (target < 0.1)" "$w"
printf '| %-46s | %10.3f s |\n' "rebuild after changing one package (< 0.5)" "$u"
printf '| %-46s | %12s |\n' "bytes pushed, whole image" "$first_push"
printf '| %-46s | %12s |\n' "bytes pushed after the one-package change" "$update_push"
printf '\nupdate push / whole push: %.4f\n' "$(echo "scale=6; $update_push / $first_push" | bc)"
