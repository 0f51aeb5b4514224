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
# cmd/mailroom-load over loopback, and the Go benchmarks. BENCH.md keeps
# the last recorded run.
bench:
	GO=$(GO) ./scripts/bench.sh

# Tools the end-to-end tests drive (they skip, saying so, when one is
# missing): mbsync (isync), swaks, Python with Debian's dkimpy.
deps:
	@need=""; \
	command -v mbsync >/dev/null || need="$$need isync"; \
	command -v swaks >/dev/null || need="$$need swaks"; \
	command -v python3 >/dev/null || need="$$need python3"; \
	/usr/bin/python3 -c 'import dkim' 2>/dev/null || need="$$need python3-dkim"; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

# Every fuzz target runs for FUZZTIME (CI: a few seconds each). A crasher
# is saved under the package's testdata/fuzz and then replays in make test.
FUZZTIME ?= 5s
fuzz:
	@set -e; for t in config:FuzzParse smtpd:FuzzParseAddress smtpd:FuzzLoginServer smtpd:FuzzHeaderCheck \
		imapd:FuzzMessage imapd:FuzzExtConnFraming store:FuzzSplitParts acl:FuzzRights; do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	done

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin data
