# ci/vm/results.awk — count the results in a VM's results.log.
#
# Counts top-level KTAP results ("ok N - x", "not ok N - x", "# SKIP") and
# top-level `go test -v` results ("--- PASS/FAIL/SKIP: TestX"; subtests are
# indented and not counted). Every KTAP block (from its "KTAP version"/"TAP
# version" line to the next one or to a "# vmtest-stage:" line) must carry
# as many results as its plan says; a short block (a program that died
# halfway) counts as one failure. Prints "PASS FAIL SKIP" on its last line,
# after one "# ..." line per problem.
function close_block() {
	if (inblock && plan != nres) {
		printf "# incomplete KTAP output: plan 1..%d, %d results (%s)\n", plan, nres, stage
		fail++
	}
	inblock = 0
}
{ sub(/\r$/, "") }
/^(K?TAP) version / { close_block(); inblock = 1; plan = -1; nres = 0; next }
/^# vmtest-stage: / { close_block(); stage = substr($0, 17); next }
inblock && /^1\.\.[0-9]+/ {
	plan = substr($1, 4) + 0
	# "1..0 # SKIP why": the whole program skipped; count it once
	if (plan == 0 && $0 ~ /# *SKIP/) skip++
	next
}
inblock && /^ok [0-9]/ {
	nres++
	if ($0 ~ /# *SKIP/) skip++; else pass++
	next
}
inblock && /^not ok [0-9]/ {
	nres++
	if ($0 ~ /# *SKIP/) skip++; else fail++
	next
}
/^--- PASS: / { pass++; next }
/^--- FAIL: / { fail++; next }
/^--- SKIP: / { skip++; next }
END { close_block(); printf "%d %d %d\n", pass, fail, skip }
