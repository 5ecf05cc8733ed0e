# bench/lib.sh: shell functions shared by bench/run.sh and bench/run_smtp.sh
# (sourced). The caller sets PROG (its name, for messages), BUILD_DIR,
# OUT_DIR, RUNS, and GEN, RUNSTAT (tools of BUILD_DIR/bench).

# generate NAME PROFILE CONNECTIONS: OUT_DIR/NAME.pcap and its .txt counts.
# Captures are deterministic, so an existing one is reused; it is generated
# under a temporary name so that an interrupted run leaves no truncated
# capture.
generate() {
	local name=$1 profile=$2 conns=$3
	local pcap=$OUT_DIR/$name.pcap tmp=$OUT_DIR/.tmp-$name.pcap
	if [[ -f $pcap && -f $pcap.txt ]]; then
		return
	fi
	echo "generating $pcap ($profile, $conns connections)"
	rm -f "$tmp" "$tmp.txt"
	"$RUNSTAT" -- "$GEN" --profile "$profile" --connections "$conns" \
	    -o "$tmp" 2>"$OUT_DIR/$name.gen.log"
	mv "$tmp.txt" "$pcap.txt"
	mv "$tmp" "$pcap"
	grep '^runstat:' "$OUT_DIR/$name.gen.log" | sed 's/^/  /'
}

field() {	# field NAME LINE: value of NAME=value in a runstat line
	sed -n "s/.*[ :]$1=\([^ ]*\).*/\1/p" <<<"$2"
}

# run_once LABEL CMD...: runs CMD once under runstat and sets run_line (its
# runstat line), run_cpu, run_rss_kb, last_out and last_err (files
# OUT_DIR/.LABEL.* holding the run's stdout and stderr). Exits on failure.
run_once() {
	local label=$1
	shift
	last_out=$OUT_DIR/.$label.stdout
	last_err=$OUT_DIR/.$label.stderr
	if ! "$RUNSTAT" -- "$@" >"$last_out" 2>"$last_err"; then
		echo "$PROG: command failed: $*" >&2
		tail -n 20 "$last_err" >&2
		exit 1
	fi
	run_line=$(grep '^runstat:' "$last_err" | tail -n 1)
	run_cpu=$(field cpu "$run_line")
	run_rss_kb=$(field maxrss_kb "$run_line")
}

less_than() {	# less_than A B: whether number A < number B
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# measure LABEL CMD...: runs CMD $RUNS times under runstat and sets
# best_line (runstat line of the run with the least CPU), best_cpu,
# max_rss_kb (over all runs), last_out and last_err (files OUT_DIR/.LABEL.*
# holding the last run's stdout and stderr).
measure() {
	local label=$1 i
	shift
	best_line='' best_cpu='' max_rss_kb=0
	for ((i = 1; i <= RUNS; i++)); do
		run_once "$label" "$@"
		if [[ -z $best_cpu ]] || less_than "$run_cpu" "$best_cpu"; then
			best_cpu=$run_cpu
			best_line=$run_line
		fi
		if ((run_rss_kb > max_rss_kb)); then
			max_rss_kb=$run_rss_kb
		fi
	done
	return 0
}
