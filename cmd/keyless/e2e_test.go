package main

// End-to-end tests against real peers: the keyless binary, the GitLab-shaped
// test issuer, MinIO's STS, the AWS CLI v2 and gitlab-ci-local. The peers are
// started by scripts/peers.sh (through `make test`), which exports
// KEYLESS_E2E_*; a plain `go test ./...` skips these tests, `make test` runs
// them and fails if a peer is missing.

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// peers are the running peers, from scripts/peers.sh.
type peers struct {
	IssuerURL string // GitLab-shaped issuer (internal/oidctest), mints at /-/mint
	MinioURL  string // MinIO: S3 and STS on one endpoint
	RoleARN   string // the MinIO role the issuer's tokens may assume
	Aud       string // the audience MinIO accepts
	Bin       string // the keyless binary under test
	AWS       string // the AWS CLI v2
	Tools     string // $KEYLESS_TOOLS: bin/minio, bin/gitlab-ci-local
}

func e2e(t *testing.T) peers {
	t.Helper()
	if os.Getenv("KEYLESS_E2E") == "" {
		t.Skip("end-to-end: run through `make test`, which starts the peers")
	}
	p := peers{
		IssuerURL: os.Getenv("KEYLESS_E2E_ISSUER_URL"),
		MinioURL:  os.Getenv("KEYLESS_E2E_MINIO_URL"),
		RoleARN:   os.Getenv("KEYLESS_E2E_ROLE_ARN"),
		Aud:       os.Getenv("KEYLESS_E2E_AUD"),
		Bin:       os.Getenv("KEYLESS_E2E_BIN"),
		AWS:       "/usr/bin/aws",
		Tools:     os.Getenv("KEYLESS_TOOLS"),
	}
	if p.IssuerURL == "" || p.MinioURL == "" || p.RoleARN == "" || p.Bin == "" {
		t.Fatal("KEYLESS_E2E is set but the peers are not: source scripts/peers.sh and call peers_start")
	}
	if _, err := os.Stat(p.AWS); err != nil {
		t.Fatalf("the AWS CLI v2 is missing at %s: run scripts/install-peers.sh", p.AWS)
	}
	return p
}

// mint returns a fresh token from the issuer; query sets claims, e.g.
// "aud=other" or "age=2h".
func (p peers) mint(t *testing.T, query string) string {
	t.Helper()
	resp, err := http.Get(p.IssuerURL + "/-/mint?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("mint %q: %s: %s", query, resp.Status, b)
	}
	return string(b)
}

// result is a finished process.
type result struct {
	Stdout, Stderr string
	Code           int
}

// run runs name with args in a clean environment (PATH, HOME and env only),
// so nothing from the developer's shell leaks into the test.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s %s: no exit after 3 minutes", name, strings.Join(args, " "))
	}
	// No option reference (internal/option) reaches a user unrendered.
	for _, s := range []string{out.String(), errb.String()} {
		if option.HasRef(s) {
			t.Errorf("%s %s: an option reference reached the output unrendered:\n%q", name, strings.Join(args, " "), s)
		}
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}
