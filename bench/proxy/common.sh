# Shared helpers of bench/proxy/ladder.sh and bench/proxy/soak.sh (sourced, bash).
#
# Every process started through start_bg is remembered and stopped by
# stop_all (called from the EXIT trap): by process id, never by name.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_DIR=$(cd "$BENCH_DIR/../.." && pwd)
CLK_TCK=$(getconf CLK_TCK)

STARTED_PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# start_bg OUTFILE CMD ARGS...: run CMD in the background, stdout+stderr to
# OUTFILE, its pid in $BG_PID (and remembered for stop_all).
start_bg() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null &
	BG_PID=$!
	STARTED_PIDS+=("$BG_PID")
}

# descendants PID: PID and every process below it (from /proc/*/stat ppid).
descendants() {
	local root=$1
	# one line per process: "pid (comm) state ppid ..."; comm may hold spaces
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$root" '
		{
			pid = $1
			line = $0
			sub(/^.*\) /, "", line)		# drop "pid (comm) "
			split(line, f, " ")
			parent[pid] = f[2]
		}
		END {
			keep[root] = 1
			do {
				added = 0
				for (p in parent)
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; added++ }
			} while (added)
			for (p in keep) if (p in parent) print p
		}'
}

# tree_cpu_us PID...: utime+stime (microseconds) of each PID's whole process
# tree (fields 14 and 15 of /proc/P/stat; all threads of a process included).
tree_cpu_us() {
	local p pids=()
	for p; do
		[ -n "$p" ] && [ -d "/proc/$p" ] && pids+=($(descendants "$p"))
	done
	[ ${#pids[@]} -gt 0 ] || { echo 0; return; }
	local files=()
	for p in "${pids[@]}"; do files+=("/proc/$p/stat"); done
	cat "${files[@]}" 2>/dev/null | awk -v tck="$CLK_TCK" '
		{ line = $0; sub(/^.*\) /, "", line); split(line, f, " "); t += f[12] + f[13] }
		END { printf "%.0f\n", t * 1000000 / tck }'
}

# tree_rss_kb PID: resident set size (kB) of PID's whole process tree
# (for Kamailio this counts the shared memory once per process that touched it).
tree_rss_kb() {
	local p t=0 r
	[ -n "$1" ] && [ -d "/proc/$1" ] || { echo 0; return; }
	for p in $(descendants "$1"); do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		t=$((t + ${r:-0}))
	done
	echo $t
}

# sys_busy_us: busy CPU time of the whole machine (summed over all CPUs), microseconds.
sys_busy_us() {
	awk -v tck="$CLK_TCK" '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; printf "%.0f\n", b * 1000000 / tck; exit }' /proc/stat
}

now_us() { date +%s%6N; }

# stop_pid PID [GRACE_S]: SIGTERM the process (and, after GRACE_S, SIGKILL it
# and whatever remains of its process tree).
stop_pid() {
	local pid=$1 grace=${2:-5} tree i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	tree=$(descendants "$pid")
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
	fi
	# children that outlived their parent (e.g. Kamailio workers)
	for i in $tree; do
		[ "$i" = "$pid" ] && continue
		kill -0 "$i" 2>/dev/null && kill -KILL "$i" 2>/dev/null
	done
	wait "$pid" 2>/dev/null
	return 0
}

# is_our_child PID: PID is alive and a child of this shell (a pid of ours
# that was reaped and reused by someone else is never touched)
is_our_child() {
	local ppid
	ppid=$(awk '{ l = $0; sub(/^.*\) /, "", l); split(l, f, " "); print f[2] }' "/proc/$1/stat" 2>/dev/null)
	[ "$ppid" = "$$" ]
}

stop_all() {
	local i p
	for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
		p=${STARTED_PIDS[$i]}
		is_our_child "$p" && stop_pid "$p" 3
	done
	STARTED_PIDS=()
}

# port_free PORT: nothing listens on udp/tcp PORT.
port_free() {
	! ss -Hlun "sport = :$1" 2>/dev/null | grep -q . && ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# wait_udp_port PORT PID TIMEOUT_S: until PORT is bound (0) or PID died / timeout (1).
wait_udp_port() {
	local port=$1 pid=$2 t=$3 i
	for ((i = 0; i < t * 10; i++)); do
		ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# csv_last FILE COLUMN: the value of COLUMN (header name) on the last line of
# a SIPp -trace_stat file (';'-separated); empty when missing.
csv_last() {
	[ -s "$1" ] || return 0
	awk -F';' -v col="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		{ last = $0 }
		END { if (c && last != "") { split(last, f, ";"); print f[c] } }' "$1"
}

# The I_MESSAGEs the scenarios carry (base64), made with mcx-sdtool.
mikey_b64() {	# IDRkmsR
	"$SDTOOL" mikey build --idri sip:alice@home.example --idrr sip:bob@partner.example \
	    --idrkmsi kms.home.example --idrkmsr "$1" --output base64
}

# make_sdproxy_conf DIR LISTEN_PORT NEXT_HOP_PORT AUDIT(yes|no) [T1_MS]: write
# DIR/sdproxy.conf from conf/primary.conf (the example primary server) with
# only server.listen, server.next_hop, log.level and log.audit changed (and
# server.workers when $SDPROXY_WORKERS is set), and the KRR keys it names
# made by conf/make-keys.sh in DIR.
make_sdproxy_conf() {
	local dir=$1 port=$2 hop=$3 audit=$4 t1=${5:-}
	mkdir -p "$dir"
	[ -f "$dir/home.example/krr-key.pem" ] ||
	    sh "$TOP_DIR/conf/make-keys.sh" "$dir" >"$dir/make-keys.log" 2>&1 ||
	    die "conf/make-keys.sh $dir failed (see $dir/make-keys.log)"
	awk -v port="$port" -v hop="$hop" -v audit="$audit" -v t1="$t1" -v workers="${SDPROXY_WORKERS:-}" '
		/^[ \t]*listen[ \t]*=/ {
			print "  listen = [ \"sip:127.0.0.1:" port ";transport=udp\", \"sip:127.0.0.1:" port ";transport=tcp\" ];"
			next
		}
		/^[ \t]*next_hop[ \t]*=/ {
			print "  next_hop = \"sip:127.0.0.1:" hop "\";"
			if (t1 != "") print "  sip_t1 = " t1 ";"
			if (workers != "") print "  workers = " workers ";"
			next
		}
		/^[ \t]*level[ \t]*=/ { print "  level = \"warning\";"; next }
		/^[ \t]*audit[ \t]*=/ {
			if (audit == "yes") print "  audit = \"audit.jsonl\";"
			next
		}
		{ print }' "$TOP_DIR/conf/primary.conf" >"$dir/sdproxy.conf"
}

# build_asan DIR: a copy of the source tree (tracked and new files, as git
# lists them) built with ./configure --enable-sanitizers in DIR; sets
# ASAN_SDPROXYD.  A build newer than every source file is reused.
build_asan() {
	local dir=$1 src
	src=$dir/tree
	ASAN_SDPROXYD=$src/src/mcx-sdproxyd
	mkdir -p "$src"
	if [ -x "$ASAN_SDPROXYD" ] &&
	    [ -z "$(cd "$TOP_DIR" && git ls-files -co --exclude-standard -- src configure.ac Makefile.am |
	        while read -r f; do [ "$f" -nt "$ASAN_SDPROXYD" ] && echo "$f"; done)" ]; then
		log "ASan build up to date: $ASAN_SDPROXYD"
		return 0
	fi
	log "building mcx-sdproxyd with --enable-sanitizers in $src (log: $dir/build.log)"
	(cd "$TOP_DIR" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src") ||
	    die "copying the source tree to $src failed"
	(
		set -e
		cd "$src"
		autoreconf -fi
		./configure --enable-sanitizers
		make -j"$(nproc)" src/mcx-sdproxyd
	) >"$dir/build.log" 2>&1 || die "ASan build failed (see $dir/build.log)"
	[ -x "$ASAN_SDPROXYD" ] || die "no $ASAN_SDPROXYD after the build"
}
