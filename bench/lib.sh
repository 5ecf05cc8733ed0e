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

# measure LABEL CMD...: runs CMD $RUNS times under runstat and sets
# best_line (runstat line of the run with the least CPU), best_cpu,
# max_rss_kb (over all runs), last_out and last_err (files OUT_DIR/.LABEL.*
# holding the last run's stdout and stderr).
measure() {
	local label=$1 i line cpu rss
	shift
	best_line='' best_cpu='' max_rss_kb=0
	last_out=$OUT_DIR/.$label.stdout
	last_err=$OUT_DIR/.$label.stderr
	for ((i = 1; i <= RUNS; i++)); do
		if ! "$RUNSTAT" -- "$@" >"$last_out" 2>"$last_err"; then
			echo "$PROG: command failed: $*" >&2
			tail -n 20 "$last_err" >&2
			exit 1
		fi
		line=$(grep '^runstat:' "$last_err" | tail -n 1)
		cpu=$(field cpu "$line")
		if [[ -z $best_cpu ]] ||
		    awk -v a="$cpu" -v b="$best_cpu" 'BEGIN { exit !(a < b) }'; then
			best_cpu=$cpu
			best_line=$line
		fi
		rss=$(field maxrss_kb "$line")
		if ((rss > max_rss_kb)); then
			max_rss_kb=$rss
		fi
	done
	return 0
}
