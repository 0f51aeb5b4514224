#!/usr/bin/env bash
# make bench: one table of Mailroom's figures on this machine. Starts a
# server on loopback with a temporary data directory, drives it with
# mailroom-load (bounded counts and time), and runs the Go benchmarks.
# Prints the table and writes it into BENCH.md.
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
row "1,000 IMAP connections in IDLE: server RSS" "$(echo "$r" | val rss_after_kib) KiB ($(echo "$r" | val per_connection_kib) KiB per connection)"

bench=$($GO test -run '^$' -bench 'BenchmarkLargeMailbox' -benchtime 5x ./imapd 2>/dev/null)
ms() { echo "$bench" | grep -E "$1-" | awk '{printf "%.0f ms", $3/1e6}'; }
row "SELECT, 100,000 messages" "$(ms 'LargeMailbox/SELECT')"
row "UID FETCH 1:* (UID FLAGS), 100,000 messages" "$(ms 'UID_FETCH_1:\*_\(UID_FLAGS\)')"
row "FETCH 1:* (ENVELOPE), 100,000 messages (5 runs; the first computes and keeps them)" "$(ms 'FETCH_1:\*_\(ENVELOPE\)')"
row "SEARCH UNSEEN, 100,000 messages" "$(ms 'SEARCH_UNSEEN')"
row "SEARCH BODY word, 100,000 messages" "$(ms 'SEARCH_BODY_word')"
disk=$($GO test -run '^$' -bench 'BenchmarkListPostsOnDisk' -benchtime 1x ./store 2>/dev/null)
row "100 posts × 100 KB to 50 members, on disk vs one copy" "$(echo "$disk" | grep one_transaction | sed -n 's/.* \([0-9.]*\) x_one_copy.*/\1×/p') (one transaction), $(echo "$disk" | grep 50_transactions | sed -n 's/.* \([0-9.]*\) x_one_copy.*/\1×/p') (50)"

mem=$($GO test -run '^$' -bench 'Memory' -benchtime 5x ./smtpd 2>/dev/null)
memrow() { echo "$mem" | grep -E "$1-" | awk '{for (i = 2; i <= NF; i++) { if ($i == "alloc-B/msg-B") a = $(i-1); if ($i == "peak-heap-MiB") p = $(i-1) } printf "%s bytes allocated per message byte, heap peak +%s MiB", a, p}'; }
row "20 MiB message submitted to 2 local + 3 remote recipients, DKIM-signed (5 in a row)" "$(memrow SubmissionMemory)"
row "20 MiB message over MX to 5 local recipients (5 in a row)" "$(memrow InboundMemory)"

start=$($GO test -run '^$' -bench 'BenchmarkStartup' -benchtime 3x -timeout 20m ./store 2>/dev/null)
row "Opening a data directory with 1,000,000 messages" "$(echo "$start" | sed -n 's/.* \([0-9.]*\) ms_to_open.*/\1 ms/p')"

imp=$($GO test -run '^$' -bench 'BenchmarkImportMbox|BenchmarkIMAPAppend' -benchtime 1x ./cmd/mailroom 2>/dev/null)
rate() { echo "$imp" | grep -E "$1-" | sed -n 's/.* \([0-9.]*\) msg\/s.*/\1/p'; }
row "mailroom import of a 10,000-message mbox vs the same APPENDed one by one over IMAP" "$(rate ImportMbox) msg/s vs $(rate IMAPAppend) msg/s"

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
