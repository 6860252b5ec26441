#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each
# (FUZZTIME, default 5s), on top of the seed corpus that go test already runs.
#
# Go's fuzzing coordinator can end a run with a bare "context deadline
# exceeded" when -fuzztime expires while a worker is still busy (more
# likely on a loaded machine): a race in the coordinator, not a finding.
# Such a run, with no failing input written, is run once more; a second
# failure, or any failure that wrote an input, fails.
set -euo pipefail
fuzztime=${FUZZTIME:-5s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fuzz() { # dir target
	set +e
	go test -run='^$' -fuzz="^$2\$" -fuzztime="$fuzztime" "$1" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	set -e
	return "$rc"
}

deadline_race() {
	grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"
}

grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | grep -v '^./.cache/' | sort | while read -r file; do
	dir=$(dirname "$file")
	grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
		echo "fuzz: $dir $target ($fuzztime)"
		fuzz "$dir" "$target" && continue
		deadline_race || exit 1
		echo "fuzz: $target ended at the fuzz time's deadline with no failing input (the coordinator's race); running it again"
		fuzz "$dir" "$target" || exit 1
	done
done
