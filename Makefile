# The README's two commands: `make demo` and `make test`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build build-slim release-build release-image release-pin release-dry-run demo report-demo fake-gitlab bench-report test bench bench-sts bench-lint fuzz clean

all: build

## build: the static, stripped helper binary at bin/keyless (flags and tags: scripts/build-keyless.sh)
build:
	VERSION='$(VERSION)' scripts/build-keyless.sh bin/keyless

## build-slim: the credential helper alone (no lint), for CI jobs that download it, at bin/keyless-slim
build-slim:
	VERSION='$(VERSION)' scripts/build-keyless.sh bin/keyless-slim keyless_slim

## release-build: static binaries for every platform and SHA256SUMS in dist/ (VERSION=1.2.3)
release-build:
	scripts/release-build.sh

## release-pin: before tagging VERSION=1.2.3, pin the helpers' sha256 in every template (VERSION= clears them)
release-pin:
	@if [ "$(origin VERSION)" = file ]; then echo "make release-pin: give VERSION=1.2.3 (VERSION= clears the pins)" >&2; exit 2; fi
	VERSION='$(VERSION)' scripts/release-pin.sh

## release-image: the release image from dist/ (make release-build) as an OCI layout, dist/keyless-image.tar; prints its digest
release-image:
	scripts/release-image.sh dist dist/keyless-image.tar

## release-dry-run: binaries, image (OCI layout), pins that reproduce, checksums, catalog rules and the pipeline under gitlab-ci-local, unpublished
release-dry-run:
	scripts/release-dry-run.sh

## demo: the whole AWS exchange on this machine: test issuer, MinIO's STS, keyless, the AWS CLI
demo:
	scripts/demo.sh

## report-demo: keyless report against the fake GitLab; writes report-demo/report.md and report.html
report-demo:
	scripts/report-demo.sh

## fake-gitlab: the fake GitLab on 127.0.0.1:8929 until interrupted (token in .fake-gitlab-token)
fake-gitlab:
	go run ./cmd/keyless-fake-gitlab -addr 127.0.0.1:8929 -token-file .fake-gitlab-token

## test: install every peer the tests need (idempotent), start them, run all tests
test:
	scripts/test.sh

## bench: every benchmark (bench/README.md)
bench: bench-sts bench-lint bench-report

## bench-sts: keyless vs the AWS CLI vs curl against the same MinIO STS
bench-sts:
	bench/sts.sh

## bench-report: keyless report over 10,000 fake projects at GitLab's rate limit, whole and in 4 shards
bench-report:
	bench/report.sh

## bench-lint: keyless lint vs gitleaks on the corpus and a generated 5,000-file monorepo
bench-lint:
	bench/lint.sh

## fuzz: the fuzz targets, longer than make test runs them (FUZZTIME=10m make fuzz)
FUZZTIME ?= 2m
fuzz:
	go test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/pipeline
	go test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/pipeline/yamlfast
	go test -run '^$$' -fuzz FuzzScan -fuzztime $(FUZZTIME) ./internal/detect
	go test -run '^$$' -fuzz FuzzDecodeClaims -fuzztime $(FUZZTIME) ./internal/idtoken
	for p in aws azure gcp vault; do go test -run '^$$' -fuzz FuzzExplain -fuzztime $(FUZZTIME) ./internal/policy/$$p || exit 1; done

clean:
	rm -rf bin dist
