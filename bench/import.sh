#!/usr/bin/env bash
# Times bale's Debian import against `apt-get download` of the same .deb
# files from the same mirror (the host's apt sources), in one run:
#   first: an empty store (the Packages index fetched and decompressed too,
#          which apt does in `apt-get update`, not timed here)
#   cold:  no packages and no cached resolution, the index text cached as
#          apt keeps its lists (bale verifies InRelease, reads the index,
#          resolves, downloads, verifies, converts and stores)
#   warm:  everything already stored (target: under 0.2 s)
#   index: opening the suite with its index text cached (InRelease fetch,
#          signature, reading the 63,000-stanza index; target under 1 s)
#
#   bench/import.sh [PACKAGE...]     default: python3
# Prints a table with medians of RUNS runs (default 3) and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=("${@:-python3}")
runs=${RUNS:-3}
cargo build --release --locked --quiet
bale=$PWD/target/release/bale
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

first=(); cold=(); warm=(); index=(); download=(); ratios=()
for run in $(seq "$runs"); do
  store=$work/store-$run
  t0=$(now); BALE_HOME=$store "$bale" --quiet import debian "${packages[@]}" >/dev/null; t1=$(now)
  first+=("$(elapsed "$t0" "$t1")")
  rm -rf "$store/blobs" "$store/cache/debian-resolutions"
  t0=$(now); BALE_HOME=$store "$bale" --quiet --json import debian "${packages[@]}" > "$work/import.json"; t1=$(now)
  cold+=("$(elapsed "$t0" "$t1")")
  t0=$(now); BALE_HOME=$store "$bale" --quiet import debian "${packages[@]}" >/dev/null; t1=$(now)
  warm+=("$(elapsed "$t0" "$t1")")
  t0=$(now); BALE_HOME=$store "$bale" --quiet debian show "${packages[0]}" >/dev/null; t1=$(now)
  index+=("$(elapsed "$t0" "$t1")")
  # The same .deb files, fetched by apt from the same mirror.
  specs=$(jq -r '.packages[] | "\(.name)=\(.version)"' "$work/import.json")
  mkdir -p "$work/apt-$run"
  t0=$(now); (cd "$work/apt-$run" && apt-get download -qq $specs >/dev/null 2>&1); t1=$(now)
  download+=("$(elapsed "$t0" "$t1")")
  ratios+=("$(echo "scale=3; ${cold[-1]} / ${download[-1]}" | bc)")
  rm -rf "$store" "$work/apt-$run"
done
count=$(jq '.packages | length' "$work/import.json")
bytes=$(jq -r '[.packages[]] | length' "$work/import.json")
f=$(printf '%s\n' "${first[@]}" | median); c=$(printf '%s\n' "${cold[@]}" | median); w=$(printf '%s\n' "${warm[@]}" | median)
i=$(printf '%s\n' "${index[@]}" | median); d=$(printf '%s\n' "${download[@]}" | median)
printf '\nbale import debian %s: %s packages; %s cores; median of %s runs\n\n' "${packages[*]}" "$count" "$(nproc)" "$runs"
printf '| %-52s | %8s |\n' "what" "seconds"
printf '|%s|%s|\n' "------------------------------------------------------" "----------"
printf '| %-52s | %8.3f |\n' "bale import, first (index fetched and unpacked too)" "$f"
printf '| %-52s | %8.3f |\n' "bale import, cold (resolve+download+convert+store)" "$c"
printf '| %-52s | %8.3f |\n' "apt-get download of the same .debs" "$d"
printf '| %-52s | %8.3f |\n' "bale import, warm (target < 0.2)" "$w"
printf '| %-52s | %8.3f |\n' "open suite with cached index (fetch+verify+parse)" "$i"
# The mirror's speed drifts between runs, so each cold import is compared
# with the download right after it, and the median of those ratios taken.
printf '\nratio cold/download, median of the per-run ratios: %.2f (target: <= 1.5); per run: %s\n' \
  "$(printf '%s\n' "${ratios[@]}" | median)" "${ratios[*]}"
: "$bytes"
