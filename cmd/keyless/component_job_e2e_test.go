package main

// How a component's job reports a wrong input, run by gitlab-ci-local:
// the job stops in before_script, before its script, and the message names
// the input as the include wrote it (issue 13).

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
)

// A job that extends .keyless-aws and .keyless-gcp, whose aws include
// takes role_arn from a variable that this job does not have (a protected
// variable on an unprotected branch, say).
const emptyInputPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: $DEPLOY_ROLE_ARN
      sts_endpoint: {{sts}}
      install: path
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/gcp@$CI_COMMIT_SHA
    inputs:
      provider: projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/keyless
      install: path

deploy:
  extends: [.keyless-aws, .keyless-gcp]
  variables:
    KEYLESS_GCP_STS_ENDPOINT: {{gcp}}
    KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT: {{gcp}}
  script:
    - echo "the script ran with AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-none}"
`

func TestE2EGitLabCIComponentEmptyRequiredInputFailsTheJob(t *testing.T) {
	p := e2e(t)
	gcp := gcptest.New(t)
	gcp.Issuer = p.IssuerURL
	g := newGCLProject(t, p, expand(emptyInputPipeline, "{{sts}}", p.MinioURL, "{{gcp}}", gcp.URL))
	tokens := p.mintIDTokens(t, g, "deploy")
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), tokens)
	out := r.Stdout + r.Stderr
	if r.Code == 0 || strings.Contains(out, "the script ran") {
		t.Fatalf("the job ran its script without the AWS credentials it asked for: exit %d\n%s", r.Code, out)
	}
	for _, want := range []string{`aws: the role_arn input of the aws component is empty in this job, which extends .keyless-aws`, "FAIL 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	for _, not := range []string{"--role-arn", "keyless --help", "keyless: gcp:"} {
		if strings.Contains(out, not) {
			t.Errorf("%q in the output:\n%s", not, out)
		}
	}
	if n := len(gcp.Requests()); n != 0 {
		t.Errorf("Google got %d requests from a job that fails", n)
	}
	assertNothingLeaks(t, r, g.Dir, map[string]string{"ID token": tokens["KEYLESS_GCP_ID_TOKEN"]})
}

// A wrong input's message names the input, not the flag it becomes.
func TestE2EGitLabCIComponentWrongInputIsNamed(t *testing.T) {
	p := e2e(t)
	g := newGCLProject(t, p, expand(gclPathPipeline, "{{role}}", p.RoleARN, "{{sts}}", "ftp://sts.example.invalid", "{{bucket}}", "unused"))
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": filepath.Join(t.TempDir(), "spy")}
	for name, tok := range p.mintIDTokens(t, g, "use-aws") {
		vars[name] = tok
	}
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	out := r.Stdout + r.Stderr
	if r.Code == 0 || !regexp.MustCompile(`(?m)^use-aws\s+> keyless: sts_endpoint "ftp://sts\.example\.invalid" is not an http\(s\) URL`).MatchString(out) {
		t.Errorf("exit %d, want the job to fail naming sts_endpoint:\n%s", r.Code, out)
	}
	if strings.Contains(out, "--sts-endpoint") || strings.Contains(out, "keyless --help") {
		t.Errorf("the job log names the flag, or sends the author to keyless --help:\n%s", out)
	}
}

// README.md, "Try a component locally": the component included with its
// default install: artifact runs on this machine's keyless when the run
// overrides KEYLESS_INSTALL, and keyless:install (whose image this machine
// need not have) does not run.
func TestE2EGitLabCIComponentTryLocally(t *testing.T) {
	p := e2e(t)
	const ci = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: {{role}}
      sts_endpoint: {{sts}}

deploy:
  extends: .keyless-aws
  script:
    - echo "keyless=$(command -v keyless)"
`
	g := newGCLProject(t, p, expand(ci, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL))
	vars := p.mintIDTokens(t, g, "deploy")
	vars["KEYLESS_INSTALL"] = "path"
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	out := r.Stdout + r.Stderr
	if r.Code != 0 || !strings.Contains(out, "keyless: aws: assumed") || !strings.Contains(r.Stdout, "keyless="+p.Bin) {
		t.Fatalf("exit %d, want the job to run this machine's keyless:\n%s", r.Code, out)
	}
	if strings.Contains(out, "keyless:install") {
		t.Errorf("keyless:install ran although KEYLESS_INSTALL=path:\n%s", out)
	}
}
