#!/bin/sh
# Two builds of a micro-benchmark, run alternately in one session, compared:
#   bench/before_after.sh BEFORE AFTER [RUNS] [-- ARGS...]
# BEFORE and AFTER are micro-benchmark programs (bench/micro_*) that print lines
# "LABEL  N ns/msg"; each is run RUNS times (default 3), alternating, and for
# every label both print the median of each and the ratio AFTER/BEFORE.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 BEFORE AFTER [RUNS] [-- ARGS...]" >&2; exit 2; }
before=$1 after=$2
shift 2
runs=3
if [ $# -gt 0 ] && [ "$1" != -- ]; then runs=$1; shift; fi
[ "${1:-}" != -- ] || shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
i=0
while [ $i -lt "$runs" ]; do
	"$before" "$@" >"$out/before.$i"
	"$after" "$@" >"$out/after.$i"
	i=$((i + 1))
done
# one line per label: LABEL<TAB>ns
for w in before after; do
	cat "$out/$w".* | awk '/^\([a-z]\) .* ns\/msg/ {
		for (i = 1; i <= NF; i++) if ($i == "ns/msg") break
		label = $1; for (k = 2; k < i - 1; k++) label = label " " $k
		print label "\t" $(i - 1) }' >"$out/$w.tsv"
done
printf '%-28s %12s %12s %8s\n' label before after ratio
cut -f1 "$out/after.tsv" | sort -u | while IFS= read -r label; do
	b=$(awk -F'\t' -v l="$label" '$1 == l { print $2 }' "$out/before.tsv" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
	a=$(awk -F'\t' -v l="$label" '$1 == l { print $2 }' "$out/after.tsv" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
	[ -n "$b" ] && [ -n "$a" ] || continue
	printf '%-28s %9s ns %9s ns %7.2fx\n' "$label" "$b" "$a" "$(echo "$a / $b" | bc -l)"
done
echo "(median of $runs alternating runs of each; ratio = after / before; lower is faster)"
