# The README's two commands: `make demo` and `make test`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X gitlab.com/keyless-ci/keyless/internal/cli.Version=$(VERSION)

.PHONY: all build demo test bench clean

all: build

## build: the static, stripped helper binary at bin/keyless
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/keyless ./cmd/keyless

## demo: the whole AWS exchange on this machine: test issuer, MinIO's STS, keyless, the AWS CLI
demo:
	scripts/demo.sh

## test: install every peer the tests need (idempotent), start them, run all tests
test:
	scripts/test.sh

## bench: keyless vs the AWS CLI vs curl against the same MinIO STS
bench:
	bench/sts.sh

clean:
	rm -rf bin dist
