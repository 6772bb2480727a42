package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// install: download, the third way a component's jobs get keyless: each job
// fetches the release's helper and SHA256SUMS with curl or wget, checks the
// one against the other, and runs it from outside the project directory.
// A release's files are served here as the package registry would.
const gclDownloadPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: {{role}}
      sts_endpoint: {{sts}}
      install: download
      download_url: {{url}}

use-aws:
  extends: .keyless-aws
  script:
    - echo "keyless=$(command -v keyless)"
    - printf '%s\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > "$KEYLESS_TEST_SPY"
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 mb s3://{{bucket}}
`

// release serves a release directory: the helper for this machine's
// architecture (the binary under test) and SHA256SUMS, with sums as given
// or, when sums is "", the true ones.
func release(t *testing.T, p peers, sums string) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile(p.Bin)
	if err != nil {
		t.Fatal(err)
	}
	name := "keyless-helper-linux-" + runtime.GOARCH
	if err := os.WriteFile(filepath.Join(dir, name), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	if sums == "" {
		sum := sha256.Sum256(bin)
		sums = hex.EncodeToString(sum[:]) + "  " + name + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

// pathWithoutTools is PATH with keyless and the named tools hidden: a
// directory of links to every other command on PATH.
func pathWithoutTools(t *testing.T, hide ...string) string {
	t.Helper()
	dir := t.TempDir()
	seen := map[string]bool{"keyless": true}
	for _, h := range hide {
		seen[h] = true
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			os.Symlink(filepath.Join(d, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	return dir
}

func TestE2EGitLabCIComponentInstallDownload(t *testing.T) {
	p := e2e(t)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("the components download helpers for amd64 and arm64, not %s", runtime.GOARCH)
	}
	pipeline := func(url, bucket string) string {
		return expand(gclDownloadPipeline, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL, "{{url}}", url, "{{bucket}}", bucket)
	}
	runJob := func(t *testing.T, g gclProject, path string) result {
		tokens := p.mintIDTokens(t, g, "use-aws")
		vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": filepath.Join(t.TempDir(), "spy")}
		for name, tok := range tokens {
			vars[name] = tok
		}
		return g.run(t, path, vars)
	}

	t.Run("verified", func(t *testing.T) {
		srv := release(t, p, "")
		bucket := bucketName("keyless-gcl-download")
		g := newGCLProject(t, p, pipeline(srv.URL, bucket))
		r := runJob(t, g, pathWithout())
		if r.Code != 0 {
			t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "make_bucket: "+bucket) {
			t.Errorf("the job did not create %s:\n%s", bucket, r.Stdout)
		}
		// Run from outside the project directory, never inside it.
		if strings.Contains(r.Stdout, "keyless="+g.Dir) || !strings.Contains(r.Stdout, "/keyless-bin-") {
			t.Errorf("keyless did not run from its download directory:\n%s", r.Stdout)
		}
	})
	t.Run("wget only", func(t *testing.T) {
		srv := release(t, p, "")
		bucket := bucketName("keyless-gcl-download-wget")
		g := newGCLProject(t, p, pipeline(srv.URL, bucket))
		r := runJob(t, g, pathWithoutTools(t, "curl"))
		if r.Code != 0 || !strings.Contains(r.Stdout, "make_bucket: "+bucket) {
			t.Errorf("an image with wget and no curl: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		srv := release(t, p, strings.Repeat("0", 64)+"  keyless-helper-linux-"+runtime.GOARCH+"\n")
		g := newGCLProject(t, p, pipeline(srv.URL, bucketName("keyless-gcl-download-bad")))
		r := runJob(t, g, pathWithout())
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "does not match the SHA256SUMS") {
			t.Errorf("a helper that does not match SHA256SUMS ran, or failed without saying why: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
	// A released component pins its helpers' sha256 (make release-pin writes
	// KEYLESS_HELPER_SHA256 into the templates before the tag): the helper
	// must match the pin, whatever SHA256SUMS beside it says.
	bin, err := os.ReadFile(p.Bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(bin))
	for _, tc := range []struct {
		name, pin string
		ok        bool
	}{
		{"pinned", "go1.26.8 linux-" + runtime.GOARCH + "=" + sum + " linux-other=" + strings.Repeat("1", 64), true},
		{"pin mismatch", "go1.26.8 linux-" + runtime.GOARCH + "=" + strings.Repeat("2", 64), false},
		{"no pin for this architecture", "go1.26.8 linux-other=" + sum, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := release(t, p, "")
			bucket := bucketName("keyless-gcl-download-pin")
			g := newGCLProject(t, p, strings.Replace(pipeline(srv.URL, bucket), "KEYLESS_HELPER_SHA256_TEST", tc.pin, 1))
			tokens := p.mintIDTokens(t, g, "use-aws")
			vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": filepath.Join(t.TempDir(), "spy"), "KEYLESS_HELPER_SHA256": tc.pin}
			for name, tok := range tokens {
				vars[name] = tok
			}
			r := g.run(t, pathWithout(), vars)
			switch {
			case tc.ok && (r.Code != 0 || !strings.Contains(r.Stdout, "make_bucket: "+bucket)):
				t.Errorf("a helper that matches the pin: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			case !tc.ok && (r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "is not the helper this component pins")):
				t.Errorf("a helper that does not match the pin ran, or failed without saying why: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
	t.Run("neither curl nor wget", func(t *testing.T) {
		srv := release(t, p, "")
		g := newGCLProject(t, p, pipeline(srv.URL, bucketName("keyless-gcl-download-none")))
		r := runJob(t, g, pathWithoutTools(t, "curl", "wget"))
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "needs curl or wget") {
			t.Errorf("no download tool: exit %d, want a failure that says so\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
}
