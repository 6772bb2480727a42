package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Test 1: keyless runs the AWS CLI v2 with credentials from MinIO's STS,
// which verified the token against the test issuer.
func TestE2EAWSExecCreatesAndListsABucket(t *testing.T) {
	p := e2e(t)
	tok := p.mint(t, "")
	env := []string{"KEYLESS_ID_TOKEN=" + tok, "AWS_PROFILE=must-be-scrubbed", "AWS_ACCESS_KEY_ID=AKIASTALEKEY"}
	flags := []string{"aws", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL, "--"}

	mb := run(t, env, p.Bin, append(flags, p.AWS, "--endpoint-url", p.MinioURL, "s3", "mb", "s3://keyless-e2e-exec")...)
	if mb.Code != 0 || !strings.Contains(mb.Stdout, "make_bucket: keyless-e2e-exec") {
		t.Fatalf("s3 mb: exit %d\n%s%s", mb.Code, mb.Stdout, mb.Stderr)
	}
	ls := run(t, env, p.Bin, append(flags, p.AWS, "--endpoint-url", p.MinioURL, "s3", "ls")...)
	if ls.Code != 0 || !strings.Contains(ls.Stdout, "keyless-e2e-exec") {
		t.Fatalf("s3 ls: exit %d\n%s%s", ls.Code, ls.Stdout, ls.Stderr)
	}
	// The command's exit code passes through.
	bad := run(t, env, p.Bin, append(flags, p.AWS, "--endpoint-url", p.MinioURL, "s3", "ls", "s3://no-such-bucket-here")...)
	if bad.Code != 254 && bad.Code != 255 && bad.Code != 1 {
		t.Errorf("failing aws command: exit %d, want the CLI's own code", bad.Code)
	}
	for _, r := range []result{mb, ls, bad} {
		if strings.Contains(r.Stdout+r.Stderr, tok) {
			t.Error("the token appears in the output")
		}
	}
}

func TestE2EAWSWrongAudienceIsRefusedAndExplained(t *testing.T) {
	p := e2e(t)
	tok := p.mint(t, "aud=https://gitlab.example.com")
	r := run(t, []string{"KEYLESS_ID_TOKEN=" + tok}, p.Bin, "aws", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL, "--format", "json")
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	for _, s := range []string{"InvalidParameterValue", `audience "https://gitlab.example.com"`, "project_path:keyless-ci/demo:ref_type:branch:ref:main"} {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("explanation lacks %q:\n%s", s, r.Stderr)
		}
	}
	if r.Stdout != "" || strings.Contains(r.Stderr, tok) {
		t.Error("stdout not empty, or the token in stderr")
	}
	// With the audience the component declares, keyless refuses before STS.
	r = run(t, []string{"KEYLESS_ID_TOKEN=" + tok, "KEYLESS_AWS_AUDIENCE=" + p.Aud}, p.Bin, "aws", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL)
	if r.Code != 3 || !strings.Contains(r.Stderr, "audience mismatch") {
		t.Errorf("client-side audience check: exit %d\n%s", r.Code, r.Stderr)
	}
}

func TestE2EAWSExpiredTokenAtSTS(t *testing.T) {
	p := e2e(t)
	// Expired 30s ago: inside keyless's clock-skew leeway, so STS decides.
	tok := p.mint(t, "ttl=5m&age=5m20s")
	r := run(t, []string{"KEYLESS_ID_TOKEN=" + tok}, p.Bin, "aws", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL)
	if r.Code != 3 || !strings.Contains(r.Stderr, "expired") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
}

// Test 2a: the AWS CLI runs keyless as its credential_process.
func TestE2EAWSCredentialProcess(t *testing.T) {
	p := e2e(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	cfg := fmt.Sprintf("[profile keyless]\nregion = us-east-1\ncredential_process = %s aws --format credential-process --role-arn %s --sts-endpoint %s\n", p.Bin, p.RoleARN, p.MinioURL)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KEYLESS_ID_TOKEN=" + p.mint(t, ""), "AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"), "AWS_PROFILE=keyless"}
	r := run(t, env, p.AWS, "--endpoint-url", p.MinioURL, "s3", "mb", "s3://keyless-e2e-process")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = run(t, env, p.AWS, "--endpoint-url", p.MinioURL, "s3api", "list-buckets", "--query", "Buckets[].Name", "--output", "json")
	var names []string
	if err := json.Unmarshal([]byte(r.Stdout), &names); err != nil || !contains(names, "keyless-e2e-process") {
		t.Fatalf("list-buckets: %v %q\n%s", err, r.Stdout, r.Stderr)
	}
}

// Test 2b: --refreshable hands the CLI a token file and role, and the CLI
// calls MinIO's STS itself. The Debian AWS CLI (2.9) predates
// AWS_ENDPOINT_URL_STS, so the test points its STS endpoint rules at MinIO
// through AWS_DATA_PATH; without that the CLI would call the real STS, which
// is unreachable here, and fail.
func TestE2EAWSRefreshableCLIExchangesItself(t *testing.T) {
	p := e2e(t)
	data := t.TempDir()
	rules := filepath.Join(data, "sts", "2011-06-15", "endpoint-rule-set-1.json")
	os.MkdirAll(filepath.Dir(rules), 0o755)
	ruleset := fmt.Sprintf(`{"version":"1.0","parameters":{"Region":{"builtIn":"AWS::Region","required":false,"documentation":"","type":"String"}},`+
		`"rules":[{"conditions":[],"endpoint":{"url":%q,"properties":{},"headers":{}},"type":"endpoint"}]}`, p.MinioURL)
	if err := os.WriteFile(rules, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	env := []string{"KEYLESS_ID_TOKEN=" + p.mint(t, ""), "AWS_DATA_PATH=" + data, "KEYLESS_STATE_DIR=" + filepath.Join(tmp, "state")}
	script := `test -z "$AWS_ACCESS_KEY_ID" || { echo "static keys set" >&2; exit 9; }
test "$(stat -c %a "$AWS_WEB_IDENTITY_TOKEN_FILE")" = 600 || { echo "token file not 0600" >&2; exit 9; }
` + p.AWS + ` --endpoint-url ` + p.MinioURL + ` s3 mb s3://keyless-e2e-refresh && ` + p.AWS + ` --endpoint-url ` + p.MinioURL + ` s3 ls`
	r := run(t, env, p.Bin, "aws", "--refreshable", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL, "--", "sh", "-c", script)
	if r.Code != 0 || !strings.Contains(r.Stdout, "keyless-e2e-refresh") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(tmp, "state")); !os.IsNotExist(err) {
		t.Errorf("the token file's directory outlived the command: %v", err)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestE2EAWSUnknownRoleNamesTheFlag(t *testing.T) {
	p := e2e(t)
	r := run(t, []string{"KEYLESS_ID_TOKEN=" + p.mint(t, "")}, p.Bin, "aws", "--role-arn", "arn:minio:iam:::role/nope", "--sts-endpoint", p.MinioURL)
	if r.Code != 3 || !strings.Contains(r.Stderr, "is not defined") || !strings.Contains(r.Stderr, "--role-arn") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
}
