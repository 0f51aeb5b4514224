# Mailroom. `make run` starts the development server; `make test` runs the
# whole test suite with the race detector.
GO      ?= go
CONFIG  ?= testdata/dev.toml
BIN     := bin/mailroom

.PHONY: run test build bench lint fuzz clean deps

build:
	$(GO) build -o $(BIN) ./cmd/mailroom

run: build
	$(BIN) serve -c $(CONFIG)

test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 20m ./...

# One table of figures (scripts/bench.sh): a server driven by
# cmd/mailroom-load over loopback, and the Go benchmarks. The table is
# printed and written into BENCH.md, the only place figures are kept.
bench:
	GO=$(GO) ./scripts/bench.sh

# Tools the end-to-end tests drive: mbsync (isync), swaks, Python with
# Debian's dkimpy, rspamd, systemd-analyze (the unit in deploy/), pebble (ACME). A test skips, saying so, when its tool is missing, or
# fails under MAILROOM_REQUIRE_TOOLS=1 (set by .ci/run after make deps).
deps:
	@need=""; \
	command -v mbsync >/dev/null || need="$$need isync"; \
	command -v swaks >/dev/null || need="$$need swaks"; \
	command -v sieve-connect >/dev/null || need="$$need sieve-connect"; \
	command -v python3 >/dev/null || need="$$need python3"; \
	/usr/bin/python3 -c 'import dkim' 2>/dev/null || need="$$need python3-dkim"; \
	command -v rspamd >/dev/null || need="$$need rspamd"; \
	command -v systemd-analyze >/dev/null || need="$$need systemd"; \
	command -v pebble >/dev/null || need="$$need pebble"; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

# Fuzz targets, package:Name. `make lint` checks that every Fuzz function
# in the tree is listed here.
FUZZ_TARGETS := config:FuzzParse smtpd:FuzzParseAddress internal/saslogin:FuzzServer smtpd:FuzzHeaderCheck smtpd:FuzzDKIMSignature \
	imapd:FuzzFetchRoundTrip imapd:FuzzWireInput imapd/proto:FuzzDecode imapd/proto:FuzzMUTF7 \
	imapd/proto:FuzzNumSet imapd/part:FuzzParse imapd/part:FuzzParseDate imapd/part:FuzzOfficeText store:FuzzSplitParts store:FuzzDecodeQueueEntry store:FuzzHeaderScan acl:FuzzRights acl:FuzzSCRAM \
	internal/trace:FuzzTranscript internal/inflate:FuzzInflate inbound:FuzzSPFRecord inbound:FuzzStripAuthResults mtasts:FuzzParsePolicy \
	web:FuzzAutodiscover internal/mailfile:FuzzMbox

# Sieve and ManageSieve.
FUZZ_TARGETS += sieve:FuzzParse managesieve:FuzzDecode

# `make fuzz` runs every target for FUZZTIME of random inputs. Being
# random, it is not part of CI: a find must not decide whether unrelated
# work lands. A find is written to <package>/testdata/fuzz/<Name>/: fix the
# bug and commit that file with the fix; from then on `make test` (and so
# CI) replays it with the rest of the committed corpus.
FUZZTIME ?= 30s
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg 2>&1) || { \
			echo "$$out"; \
			echo "fuzz: $$fn failed; fix it and commit the input under $$pkg/testdata/fuzz/$$fn/ as a regression case"; \
			exit 1; }; \
	done

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@missing=""; \
	for t in $$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/]*_test\.go:func |\1:|'); do \
		case " $(FUZZ_TARGETS) " in *" $$t "*) ;; *) missing="$$missing $$t";; esac; \
	done; \
	test -z "$$missing" || { echo "lint: fuzz targets missing from FUZZ_TARGETS in the Makefile:$$missing"; exit 1; }

clean:
	rm -rf bin data
