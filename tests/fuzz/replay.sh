# Replays every fuzz target's corpus (seeds and what fuzzing found) through the target.
. "$top_srcdir/tests/lib.sh"

for target in mikey extract krr kmscert conf sipread ldapentry; do
	corpus="$top_srcdir/tests/fuzz/corpus/$target"
	n=$(ls "$corpus" | wc -l)
	run "$top_builddir/tests/fuzz/fuzz_$target" "$corpus"
	check "fuzz_$target replays its $n corpus inputs" [ "$RC" -eq 0 ]
	check "fuzz_$target ran every input" grep -q "replayed $n inputs" "$WORK/out"
	[ "$RC" -eq 0 ] || cat "$WORK/err"
done
done_testing
