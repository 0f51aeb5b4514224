#!/usr/bin/env bash
# make bench: one table of Mailroom's figures on this machine. Starts a
# server on loopback with a temporary data directory, drives it with
# mailroom-load (bounded counts and time), and runs the Go benchmarks.
# Prints the table and writes it into BENCH.md.
#
# With PEERS set to a directory of reference-peer scripts (dovecot-up.sh,
# imaptest-stress.sh, imaptest-compliance.sh, mailroom-config.sh, as kept
# beside the repository on the development machine; a clone has none),
# it also runs Dovecot's imaptest against a reference Dovecot and against
# Mailroom in the same run and adds their figures side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

$GO build -o "$work/mailroom" ./cmd/mailroom
$GO build -o "$work/mailroom-load" ./cmd/mailroom-load
hash=$("$work/mailroom" hash-password <<< password)
cat > "$work/bench.toml" <<TOML
hostname = "mail.example.test"
data_dir = "data"
[log]
level = "info"
[listeners.imap]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.imaps]
disabled = true
[listeners.smtp]
address = "127.0.0.1:0"
[listeners.submission]
disabled = true
[listeners.submissions]
disabled = true
[limits]
message_size = "25MB"
connections = 5000
connections_per_ip = 5000
sessions_per_account = 5000
[[domains]]
name = "example.test"
[[accounts]]
address = "alice@example.test"
password_hash = "$hash"
TOML
"$work/mailroom" serve -c "$work/bench.toml" > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "mailroom started" "$work/log" && break; sleep 0.1; done
addr() { sed -n "s/.*listener=$1 addr=\([^ ]*\).*/\1/p" "$work/log" | head -1; }
smtp=$(addr smtp); imap=$(addr imap)
[ -n "$smtp" ] && [ -n "$imap" ] || { cat "$work/log"; exit 1; }
load() { "$work/mailroom-load" "$@"; }
val() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

rows=()
row() { rows+=("| $1 | $2 |"); }
# First, on the fresh server: what idle connections cost.
r=$(load idle -addr "$imap" -n 1000 -pid $pid -time 120s)
row "1,000 IMAP connections in IDLE on a fresh server: server RSS" "$(echo "$r" | val rss_after_kib) KiB (from $(echo "$r" | val rss_before_kib) KiB; $(echo "$r" | val per_connection_kib) KiB per connection)"
for size in 4096 102400; do
  for c in 1 16 64; do
    n=$(( size == 4096 ? 3000 : 600 ))
    r=$(load smtp -addr "$smtp" -clients $c -size $size -n $n -time 60s)
    row "SMTP accepted and stored, $((size/1024)) KB, $c clients" "$(echo "$r" | val per_second) msgs/s"
  done
done
r=$(load append -addr "$imap" -clients 1 -size 4096 -n 1000 -time 60s)
row "IMAP APPEND, 4 KB, 1 client" "$(echo "$r" | val per_second) /s"
r=$(load append -addr "$imap" -clients 16 -size 4096 -n 2000 -time 60s)
row "IMAP APPEND, 4 KB, 16 clients" "$(echo "$r" | val per_second) /s"
r=$(load idle -addr "$imap" -n 1000 -pid $pid -time 120s)
row "1,000 IMAP connections in IDLE after the load above: server RSS" "$(echo "$r" | val rss_after_kib) KiB ($(echo "$r" | val per_connection_kib) KiB per connection)"

bench=$($GO test -run '^$' -bench 'BenchmarkLargeMailbox' -benchtime 5x ./imapd 2>/dev/null)
ms() { echo "$bench" | grep -E "$1-" | awk '{printf "%.1f ms", $3/1e6}'; }
row "SELECT, 100,000 messages: first after a start / repeated" "$(ms 'LargeMailbox/SELECT_first') / $(ms 'LargeMailbox/SELECT')"
row "UID FETCH 1:* (UID FLAGS), 100,000 messages" "$(ms 'UID_FETCH_1:\*_\(UID_FLAGS\)')"
row "FETCH 1:* (ENVELOPE), 100,000 messages (kept at delivery)" "$(ms 'FETCH_1:\*_\(ENVELOPE\)')"
row "SEARCH UNSEEN, 100,000 messages" "$(ms 'SEARCH_UNSEEN')"
row "SEARCH BODY word, 100,000 messages (no index)" "$(ms 'SEARCH_BODY_word')"
row "SORT (DATE) / THREAD REFERENCES, 100,000 messages" "$(ms 'SORT_\(DATE\)') / $(ms 'THREAD_REFERENCES')"
row "Resync after 10 changes, 100,000 messages: UID FETCH (CHANGEDSINCE) / SELECT (QRESYNC)" "$(ms 'UID_FETCH_CHANGEDSINCE_10_changes') / $(ms 'SELECT_QRESYNC_10_changes')"
ftb=$($GO test -run '^$' -bench 'BenchmarkFullText' -benchtime 5x -timeout 30m ./imapd/engine 2>/dev/null)
row "SEARCH BODY word, 100,000 messages of 5 KB, indexed" "$(echo "$ftb" | grep -E 'SEARCH_BODY_word_indexed-' | awk '{printf "%.1f ms", $3/1e6}')"
row "Full-text index lag after 1,000 new messages" "$(echo "$ftb" | grep -E 'index_lag_after_1000-' | awk '{for (i = 2; i <= NF; i++) if ($i == "lag-ms") print $(i-1) " ms"}')"
disk=$($GO test -run '^$' -bench 'BenchmarkListPostsOnDisk' -benchtime 1x ./store 2>/dev/null)
row "100 posts × 100 KB to 50 members, on disk vs one copy" "$(echo "$disk" | grep one_transaction | sed -n 's/.* \([0-9.]*\) x_one_copy.*/\1×/p') (one transaction), $(echo "$disk" | grep 50_transactions | sed -n 's/.* \([0-9.]*\) x_one_copy.*/\1×/p') (50)"

mem=$($GO test -run '^$' -bench 'Memory' -benchtime 5x ./smtpd 2>/dev/null)
memrow() { echo "$mem" | grep -E "$1-" | awk '{for (i = 2; i <= NF; i++) { if ($i == "alloc-B/msg-B") a = $(i-1); if ($i == "peak-heap-MiB") p = $(i-1) } printf "%s bytes allocated per message byte, heap peak +%s MiB", a, p}'; }
row "20 MiB message submitted to 2 local + 3 remote recipients, DKIM-signed (5 in a row)" "$(memrow SubmissionMemory)"
row "20 MiB message over MX to 5 local recipients (5 in a row)" "$(memrow InboundMemory)"

sv=$($GO test -run '^$' -bench 'BenchmarkSieveDelivery' -benchtime 3s ./smtpd 2>/dev/null)
svrate() { echo "$sv" | grep -E "$1-" | awk '{for (i = 2; i <= NF; i++) if ($i == "msgs/s") printf "%.0f", $(i-1)}'; }
row "MX delivery, 4 KB, 1 client: no Sieve script vs a 20-rule one" "$(svrate noscript) vs $(svrate 20rules) msgs/s"

ic=$($GO test -run '^$' -bench 'BenchmarkInboundChecks' -benchtime 4s -count 3 ./smtpd 2>/dev/null)
# The median of three runs of each, the checks' cost per message in CPU.
icrate() { echo "$ic" | grep -E "$1-" | awk '{for (i = 2; i <= NF; i++) if ($i == "msgs/s") print $(i-1)}' | sort -n | sed -n 2p; }
iccpu() { echo "$ic" | grep -E "$1-" | awk '{for (i = 2; i <= NF; i++) if ($i == "cpu-µs/msg") print $(i-1)}' | sort -n | sed -n 2p; }
for c in 1 16; do
	off=$(icrate "${c}clients/off"); on=$(icrate "${c}clients/on")
	row "MX delivery, 4 KB, $c client(s): inbound checks off vs on (SPF, DKIM RSA-2048, DMARC, DNSBL; fake DNS)" "$off vs $on msgs/s = $(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.0f%%", 100*a/b}') ($(iccpu "${c}clients/off") vs $(iccpu "${c}clients/on") cpu-µs/msg)"
done

start=$($GO test -run '^$' -bench 'BenchmarkStartup' -benchtime 3x -timeout 20m ./store 2>/dev/null)
row "Opening a data directory with 1,000,000 messages" "$(echo "$start" | sed -n 's/.* \([0-9.]*\) ms_to_open.*/\1 ms/p')"

imp=$($GO test -run '^$' -bench 'BenchmarkImportMbox|BenchmarkIMAPAppend' -benchtime 1x ./cmd/mailroom 2>/dev/null)
rate() { echo "$imp" | grep -E "$1-" | sed -n 's/.* \([0-9.]*\) msg\/s.*/\1/p'; }
row "mailroom import of a 10,000-message mbox vs the same APPENDed one by one over IMAP" "$(rate ImportMbox) msg/s vs $(rate IMAPAppend) msg/s"
# Side by side with Dovecot, when the reference peers are at hand.
if [ -n "${PEERS:-}" ]; then
	kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
	"$PEERS/dovecot-up.sh" > "$work/dovecot-up.log" 2>&1 || { cat "$work/dovecot-up.log"; exit 1; }
	"$PEERS/mailroom-config.sh" "$work/mailroom" "$work/peer-data" 23000 50 > "$work/peer.toml"
	"$work/mailroom" serve -c "$work/peer.toml" > "$work/peer.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/23143' 2>/dev/null && break; sleep 0.1; done
	comp() { "$PEERS/imaptest-compliance.sh" 127.0.0.1 "$1" "$2" pass "$3" 2>/dev/null | tail -1; }
	row "imaptest compliance groups, Mailroom / Dovecot" "$(comp 23143 testuser1@example.test testuser2@example.test) / $(comp 11143 testuser1 testuser2)"
	peak() { local m=0 v; while kill -0 $pid 2>/dev/null; do v=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null); [ -n "$v" ] && [ "$v" -gt "$m" ] && m=$v; echo $m > "$work/peak"; sleep 0.5; done; }
	for c in 10 50; do
		echo 0 > "$work/peak"; peak & watcher=$!
		m=$("$PEERS/imaptest-stress.sh" 127.0.0.1 23143 'testuser%d@example.test' pass $c 30 2>/dev/null | tail -1)
		kill $watcher 2>/dev/null; wait $watcher 2>/dev/null || true
		d=$("$PEERS/imaptest-stress.sh" 127.0.0.1 11143 'testuser%d' pass $c 30 2>/dev/null | tail -1)
		row "imaptest stress, $c clients × 30 s: Mailroom / Dovecot" "${m#TOTAL } (peak RSS $(cat "$work/peak") KiB) / ${d#TOTAL }"
	done
fi

{
	echo "Mailroom benchmarks — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), $($GO version | cut -d' ' -f3)"
	echo
	echo "| what | figure |"
	echo "|---|---|"
	printf '%s\n' "${rows[@]}"
} > "$work/table"
cat "$work/table"
# BENCH.md keeps the last run: its table, between the bench markers, is
# replaced (README points there and keeps no figures of its own).
awk -v f="$work/table" '/<!-- bench:end -->/ { skip = 0 } !skip { print }
	/<!-- bench:start -->/ { while ((getline l < f) > 0) print l; skip = 1 }' BENCH.md > "$work/BENCH.md"
cp "$work/BENCH.md" BENCH.md
