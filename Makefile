# Mailroom. `make run` starts the development server; `make test` runs the
# whole test suite with the race detector.
GO      ?= go
CONFIG  ?= testdata/dev.toml
BIN     := bin/mailroom

.PHONY: run test build bench lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/mailroom

run: build
	$(BIN) serve -c $(CONFIG)

test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin data
