package cli

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// keyless env as a component's before_script runs it: the component's
// variables, among them KEYLESS_<PROVIDER>_COMPONENT, the hidden job's name
// (templates/*.yml).

// Issue 13, item 9. `role_arn: $DEPLOY_ROLE_ARN` with the variable unset
// for this job, in a job that extends .keyless-aws and .keyless-gcp: the job
// fails before its script and names the input; it does not go on with
// Google's credentials alone (nor, on an EC2 or IRSA runner, with the
// runner's own role).
func TestEnvFailsOnAComponentsEmptyRequiredInput(t *testing.T) {
	t.Parallel()
	g := newGCPFixture(t)
	env := g.env(g.mint(t, oidctest.Job{}),
		"KEYLESS_GCP_COMPONENT", ".keyless-gcp", "KEYLESS_GCP_PROVIDER", gcpProviderName,
		"KEYLESS_AWS_COMPONENT", ".keyless-aws", "KEYLESS_AWS_ROLE_ARN", "", "KEYLESS_AWS_AUDIENCE", "sts.amazonaws.com",
		"KEYLESS_AWS_REGION", "", "KEYLESS_AWS_STS_ENDPOINT", "")
	o := keyless(t, env, "env")
	if o.Code != ExitUsage || o.Stdout != "" {
		t.Fatalf("exit %d, want %d and nothing on stdout\n%s%s", o.Code, ExitUsage, o.Stdout, o.Stderr)
	}
	for _, want := range []string{"role_arn", ".keyless-aws"} {
		if !strings.Contains(o.Stderr, want) {
			t.Errorf("the message does not name %s:\n%s", want, o.Stderr)
		}
	}
	for _, not := range []string{"--role-arn", "keyless --help", "keyless: gcp:"} {
		if strings.Contains(o.Stderr, not) {
			t.Errorf("the message has %q:\n%s", not, o.Stderr)
		}
	}
	if n := len(g.fake.Requests()); n != 0 {
		t.Errorf("Google got %d requests; nothing may be exchanged when the job is to fail", n)
	}
	golden(t, "env-component-empty-input", newFixture(t), o)

	// Every empty required input of every component is named at once.
	env = map[string]string{"KEYLESS_ID_TOKEN": g.mint(t, oidctest.Job{}),
		"KEYLESS_VAULT_COMPONENT": ".keyless-vault", "KEYLESS_VAULT_ADDR": "", "KEYLESS_VAULT_ROLE": "deploy", "KEYLESS_VAULT_AUDIENCE": " ",
		"KEYLESS_STS_COMPONENT": ".keyless-sts", "KEYLESS_STS_TOKEN_URL": "", "KEYLESS_STS_EXPECTED_AUD": "sso"}
	o = keyless(t, env, "env")
	for _, want := range []string{"vault: the addr input", "vault: the aud input", "sts: the token_url input"} {
		if o.Code != ExitUsage || !strings.Contains(o.Stderr, want) {
			t.Errorf("exit %d, no %q in\n%s", o.Code, want, o.Stderr)
		}
	}
}

// Issue 13, item 11. In a component's job the messages name the inputs
// (sts_endpoint) and, for an option the component has no input for, the
// variable the job set; never a flag the job's author did not type, and no
// `Run 'keyless --help'`.
func TestEnvInAComponentNamesInputsNotFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.iss.MustMint(t, oidctest.Job{Audience: []string{"sts.amazonaws.com"}})
	component := map[string]string{"KEYLESS_AWS_COMPONENT": ".keyless-aws", "KEYLESS_AWS_TOKEN_VAR": "KEYLESS_AWS_ID_TOKEN",
		"KEYLESS_AWS_ID_TOKEN": tok, "KEYLESS_AWS_AUDIENCE": "sts.amazonaws.com", "KEYLESS_AWS_ROLE_ARN": role,
		"KEYLESS_AWS_REGION": "", "KEYLESS_AWS_DURATION": "", "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range component {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name       string
		env        map[string]string
		want, flag string
	}{
		{"env-component-bad-endpoint", with("KEYLESS_AWS_STS_ENDPOINT", "ftp://sts.example.invalid"), `keyless: sts_endpoint "ftp://sts.example.invalid" is not`, "--sts-endpoint"},
		{"env-component-bad-duration", with("KEYLESS_AWS_DURATION", "forever"), `keyless: session_duration "forever"`, "--duration"},
		{"env-component-ca-file", with("KEYLESS_AWS_CA_FILE", "/nonexistent/keyless-test/missing.pem"), "keyless: KEYLESS_AWS_CA_FILE: ", "--ca-file"},
		{"env-component-no-token", with("KEYLESS_AWS_ID_TOKEN", ""), "KEYLESS_AWS_TOKEN_VAR", "--token-var"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := keyless(t, tc.env, "env")
			if o.Code == 0 || o.Stdout != "" {
				t.Fatalf("exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
			}
			if !strings.Contains(o.Stderr, tc.want) {
				t.Errorf("no %q in\n%s", tc.want, o.Stderr)
			}
			if strings.Contains(o.Stderr, tc.flag) || strings.Contains(o.Stderr, "keyless --help") {
				t.Errorf("the message names %s or ends with keyless --help:\n%s", tc.flag, o.Stderr)
			}
			golden(t, tc.name, f, o)
		})
	}
}

// Issue 13, item 11. keyless env with two providers, the first of which
// succeeds and the second fails: the job fails, and its log must not say
// that AWS credentials were set, since nothing was.
func TestEnvTellsWhatItSetOnlyWhenEveryProviderSucceeded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := map[string]string{"KEYLESS_ID_TOKEN": f.iss.MustMint(t, oidctest.Job{}),
		"KEYLESS_AWS_ROLE_ARN": role, "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL, "AWS_REGION": "eu-central-1",
		"KEYLESS_VAULT_ROLE": "deploy", "KEYLESS_VAULT_ADDR": "ftp://vault.example.invalid"}
	o := keyless(t, env, "env")
	if o.Code == 0 || o.Stdout != "" {
		t.Fatalf("exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	if len(f.sts.Requests()) != 1 {
		t.Fatalf("STS got %d requests, want the one of the AWS exchange, which succeeds", len(f.sts.Requests()))
	}
	if strings.Contains(o.Stderr, "keyless: aws:") || strings.Contains(o.Stderr, "set AWS_") {
		t.Errorf("the job fails, yet its log says AWS credentials were set:\n%s", o.Stderr)
	}
	golden(t, "env-summary-after-failure", f, o)

	// Both succeed: each says what it set.
	g := newGCPFixture(t)
	env = g.env(g.mint(t, oidctest.Job{}), "KEYLESS_GCP_PROVIDER", gcpProviderName,
		"KEYLESS_AWS_ROLE_ARN", role, "KEYLESS_AWS_STS_ENDPOINT", f.sts.URL, "AWS_REGION", "eu-central-1")
	o = keyless(t, env, "env")
	if o.Code != 0 || !strings.Contains(o.Stderr, "keyless: aws: assumed") || !strings.Contains(o.Stderr, "keyless: gcp: ") {
		t.Errorf("exit %d, want both summaries\n%s", o.Code, o.Stderr)
	}
}
