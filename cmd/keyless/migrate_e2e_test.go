package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A pipeline that used stored AWS keys, migrated by keyless migrate (issue
// 17), run by gitlab-ci-local with the aws component (install: path)
// against MinIO and the test issuer: its job's aws s3 commands succeed
// with no key stored anywhere, neither in the configuration nor in the
// variables gitlab-ci-local is given.
const gclStoredKeysPipeline = `# Uploads with the IAM user's keys.
stages: [deploy]

use-aws:
  stage: deploy
  variables:
    AWS_ACCESS_KEY_ID: $STORED_AWS_ACCESS_KEY_ID
    AWS_SECRET_ACCESS_KEY: $STORED_AWS_SECRET_ACCESS_KEY  # an IAM user's
  script:
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 mb s3://{{bucket}}
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 ls
`

func TestE2EGitLabCIMigratedStoredKeys(t *testing.T) {
	p := e2e(t)
	bucket := bucketName("keyless-gcl-migrate")
	g := newGCLProject(t, p, expand(gclStoredKeysPipeline, "{{bucket}}", bucket))

	// The identity: the role MinIO's STS trusts the issuer's tokens for,
	// at MinIO's endpoint, with keyless on the job's PATH.
	mapFile := filepath.Join(t.TempDir(), "identities.yml")
	m := "STORED_AWS_ACCESS_KEY_ID:\n  role_arn: " + p.RoleARN + "\n  sts_endpoint: " + p.MinioURL + "\n  install: path\n"
	if err := os.WriteFile(mapFile, []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, p.Bin, "migrate", g.Dir, "--map", mapFile, "--write",
		"--component", "$CI_SERVER_FQDN/$CI_PROJECT_PATH", "--component-version", "$CI_COMMIT_SHA")
	if r.Code != 0 {
		t.Fatalf("keyless migrate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	migrated, err := os.ReadFile(filepath.Join(g.Dir, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(migrated), "STORED_AWS") || !strings.Contains(string(migrated), "extends: .keyless-aws") {
		t.Fatalf("the migrated pipeline still maps the stored keys, or does not extend .keyless-aws:\n%s", migrated)
	}
	if !strings.HasPrefix(string(migrated), "# Uploads with the IAM user's keys.\n") {
		t.Errorf("the comment heading the file is gone:\n%s", migrated)
	}
	if l := run(t, nil, p.Bin, "lint", g.Dir, "--rule", "stored-aws-keys"); l.Code != 0 {
		t.Errorf("keyless lint still finds stored AWS keys: exit %d\n%s%s", l.Code, l.Stdout, l.Stderr)
	}
	// The spy records the credentials the job got, for assertNothingLeaks.
	// It is added after the migration: migrate rightly refuses a job that
	// writes its secret key to a file.
	spied := strings.Replace(string(migrated), "  script:\n", "  script:\n    - printf '%s\\n' \"$AWS_SECRET_ACCESS_KEY\" \"$AWS_SESSION_TOKEN\" > \"$KEYLESS_TEST_SPY\"\n", 1)
	if err := os.WriteFile(filepath.Join(g.Dir, ".gitlab-ci.yml"), []byte(spied), 0o644); err != nil {
		t.Fatal(err)
	}

	tokens := p.mintIDTokens(t, g, "use-aws")
	spy := filepath.Join(t.TempDir(), "spy")
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": spy}
	for name, tok := range tokens {
		vars[name] = tok
	}
	out := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	if out.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", out.Code, out.Stdout, out.Stderr)
	}
	if !strings.Contains(out.Stdout, "make_bucket: "+bucket) || !regexp.MustCompile(`(?m)^use-aws\s+> \S+ \S+ `+bucket+`$`).MatchString(out.Stdout) {
		t.Errorf("the migrated job did not create and list %s:\n%s", bucket, out.Stdout)
	}
	if !strings.Contains(out.Stderr, "keyless: aws: assumed") {
		t.Errorf("keyless's summary line is missing from the job log:\n%s", out.Stderr)
	}
	secrets := readSpy(t, spy)
	if secrets["session token"] == "" {
		t.Error("the job had no session token: its credentials are not the exchange's")
	}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, out, g.Dir, secrets)
}
