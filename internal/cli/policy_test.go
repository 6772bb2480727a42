package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// The audience each provider's jobs ask for, as their components set it.
var policyAudience = map[string]string{
	"aws":   "sts.amazonaws.com",
	"azure": "api://AzureADTokenExchange",
	"gcp":   "https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab",
	"vault": "https://vault.example.com",
}

func TestPolicyGolden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range policyProviders() {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			o := keyless(t, map[string]string{"CI_SERVER_URL": "https://gitlab.example.com"}, "policy", p.Name(),
				"--project", "acme/web", "--project-id", "42", "--namespace-id", "7", "--ref", "main", "--ref-type", "branch",
				"--aud", policyAudience[p.Name()])
			if o.Code != 0 {
				t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
			}
			golden(t, "policy-"+p.Name(), f, o)
		})
	}
	o := keyless(t, nil, "policy", "aws", "--group", "acme", "--production", "--issuer", "https://gitlab.com")
	if o.Code != 0 || !strings.Contains(o.Stderr, "[group-wildcard-production]") || !strings.Contains(o.Stderr, "[any-ref]") {
		t.Errorf("a production role for a whole group, on any ref: exit %d, no warnings:\n%s", o.Code, o.Stderr)
	}
}

// Every generated trust admits the job it was generated from (--from-token)
// and refuses a job of another project, another branch, an unprotected ref
// and another audience, as keyless explain evaluates it.
func TestPolicyRoundTrip(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	for _, p := range policyProviders() {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			aud := []string{policyAudience[p.Name()]}
			job := oidctest.Job{Audience: aud, ProjectPath: "acme/web", ProjectID: "42", NamespaceID: "7", Ref: "main", RefType: "branch", RefProtected: true,
				Subject: "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true"}
			dir := t.TempDir()
			o := keyless(t, map[string]string{"KEYLESS_ID_TOKEN": iss.MustMint(t, job)}, "policy", p.Name(), "--from-token", "--format", "json", "--output-dir", dir)
			if o.Code != 0 {
				t.Fatalf("policy --from-token: exit %d\n%s", o.Code, o.Stderr)
			}
			docs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			if len(docs) != 1 {
				t.Fatalf("policy %s --format json wrote %v, want one JSON document", p.Name(), docs)
			}
			explain := func(j oidctest.Job) outcome {
				return keyless(t, map[string]string{"KEYLESS_ID_TOKEN": iss.MustMint(t, j)}, "explain", p.Name(), "--"+documentFlags[p.Name()], docs[0])
			}
			if o := explain(job); o.Code != 0 || !strings.Contains(o.Stdout, "admitted: ") {
				t.Errorf("the job the trust was generated from: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
			}
			for name, mut := range map[string]func(*oidctest.Job){
				"another project": func(j *oidctest.Job) {
					j.ProjectPath, j.ProjectID, j.Subject = "acme/other", "43", "project_path:acme/other:ref_type:branch:ref:main:ref_protected:true"
				},
				"another branch": func(j *oidctest.Job) {
					j.Ref, j.Subject = "dev", "project_path:acme/web:ref_type:branch:ref:dev:ref_protected:true"
				},
				"unprotected ref": func(j *oidctest.Job) {
					j.RefProtected, j.Subject = false, "project_path:acme/web:ref_type:branch:ref:main:ref_protected:false"
				},
				"another audience": func(j *oidctest.Job) { j.Audience = []string{"https://other.example.com"} },
			} {
				j := job
				mut(&j)
				o := explain(j)
				if o.Code != 1 || !strings.Contains(o.Stdout, "refused: ") || !strings.Contains(o.Stdout, "FAILED") {
					t.Errorf("%s: exit %d, want 1 with a failed condition\n%s%s", name, o.Code, o.Stdout, o.Stderr)
				}
			}
		})
	}
}

func TestExplainClaimsFileAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	trust := write("trust.json", `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
		"Action": "sts:AssumeRoleWithWebIdentity",
		"Condition": {"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:*"}}}]}`)
	claims := write("claims.json", `{"iss": "https://gitlab.com", "aud": "sts.amazonaws.com", "sub": "project_path:acme/web:ref_type:branch:ref:main",
		"project_path": "acme/web", "ref": "main", "ref_type": "branch", "ref_protected": "true"}`)

	o := keyless(t, nil, "explain", "aws", "--trust-policy", trust, "--claims", claims)
	if o.Code != 1 || !strings.Contains(o.Stdout, "FAILED") || !strings.Contains(o.Stdout, "StringLike") {
		t.Errorf("a wildcard in StringEquals: exit %d, want 1 and the StringLike fix\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	o = keyless(t, nil, "explain", "aws", "--trust-policy", trust, "--claims", claims, "--format", "json")
	var res struct {
		Admitted bool
		Checks   []struct{ Held bool }
	}
	if err := json.Unmarshal([]byte(o.Stdout), &res); err != nil || res.Admitted || len(res.Checks) == 0 {
		t.Errorf("--format json: %v %+v\n%s", err, res, o.Stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no document", []string{"explain", "aws", "--claims", claims}, "needs --trust-policy FILE"},
		{"no token", []string{"explain", "aws", "--trust-policy", trust}, "--claims FILE"},
		{"bad claims", []string{"explain", "aws", "--trust-policy", trust, "--claims", write("bad.json", "[1]")}, "--claims"},
		{"bad document", []string{"explain", "aws", "--trust-policy", write("bad-trust.json", "{"), "--claims", claims}, "--trust-policy"},
		{"missing document", []string{"explain", "aws", "--trust-policy", filepath.Join(dir, "none.json"), "--claims", claims}, "none.json"},
		{"no provider", []string{"explain"}, "needs a provider"},
		{"unknown provider", []string{"policy", "gcs"}, `unknown provider "gcs"`},
		{"policy without project", []string{"policy", "aws"}, "--project PATH"},
		{"policy bad format", []string{"policy", "aws", "--project", "a/b", "--format", "yaml"}, `--format "yaml"`},
	} {
		o := keyless(t, nil, tc.args...)
		if o.Code != ExitUsage || !strings.Contains(o.Stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\n%s", tc.name, o.Code, ExitUsage, tc.want, o.Stderr)
		}
	}
}

// A refused exchange explains itself when the job has the trust policy.
func TestExchangeExplainsRefusal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, awstest.AccessDenied)
	trust := filepath.Join(t.TempDir(), "trust.json")
	host := strings.TrimPrefix(f.iss.URL, "http://")
	doc := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/` + host + `"},
		"Action": "sts:AssumeRoleWithWebIdentity",
		"Condition": {"StringEquals": {"` + host + `:aud": "sts.amazonaws.com", "` + host + `:sub": "project_path:keyless-ci/demo:ref_type:branch:ref:release"}}}]}`
	if err := os.WriteFile(trust, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYLESS_ID_TOKEN": f.iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL, "KEYLESS_AWS_TRUST_POLICY": trust}
	o := keyless(t, env, "aws", "--role-arn", role, "--format", "json")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "FAILED") || !strings.Contains(o.Stderr, "ref:release") || !strings.Contains(o.Stderr, "fix: ") {
		t.Errorf("exit %d, want %d and the failed sub condition with its fix:\n%s", o.Code, ExitFailure, o.Stderr)
	}
	noSecretsIn(t, o, f.iss.MustMint(t, oidctest.Job{}))
}

func noSecretsIn(t *testing.T, o outcome, tok string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	for _, p := range parts[1:] {
		if len(p) > 16 && strings.Contains(o.Stdout+o.Stderr, p[:16]) {
			t.Errorf("the output holds part of the token")
		}
	}
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	now := time.Now()
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{"sts.amazonaws.com"}})
	base := map[string]string{
		"KEYLESS_AWS_ROLE_ARN": role, "KEYLESS_AWS_TOKEN_VAR": "AWS_ID_TOKEN", "KEYLESS_AWS_AUDIENCE": "sts.amazonaws.com",
		"AWS_ID_TOKEN": tok, "CI_SERVER_URL": iss.URL,
		"CI_JOB_TIMEOUT": "3600", "CI_JOB_STARTED_AT": now.UTC().Format(time.RFC3339),
	}
	o := keyless(t, base, "doctor")
	if o.Code != 0 {
		t.Fatalf("a sound job: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	for _, want := range []string{"ok    token $AWS_ID_TOKEN", "ok    signature", "ok    discovery", "ok    keys", "ok    audience aws", "ok    lifetime", "info  protected ref"} {
		if !strings.Contains(o.Stdout, want) {
			t.Errorf("no %q line:\n%s", want, o.Stdout)
		}
	}
	noSecretsIn(t, o, tok)

	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	trust := filepath.Join(t.TempDir(), "trust.json")
	host := strings.TrimPrefix(iss.URL, "http://")
	if err := os.WriteFile(trust, []byte(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/`+host+`"}, "Action": "sts:AssumeRoleWithWebIdentity",
		"Condition": {"StringEquals": {"`+host+`:aud": "sts.amazonaws.com", "`+host+`:sub": "project_path:keyless-ci/demo:ref_type:branch:ref:main:ref_protected:true"}}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"wrong audience", with("KEYLESS_AWS_AUDIENCE", "https://aws.example.com"), "FAIL  audience aws"},
		{"no token", with("AWS_ID_TOKEN", ""), "FAIL  token $AWS_ID_TOKEN"},
		{"expired", with("AWS_ID_TOKEN", iss.MustMint(t, oidctest.Job{IssuedAt: iss.Now().Add(-3 * time.Hour)})), "FAIL  lifetime"},
		{"unreachable issuer", with("AWS_ID_TOKEN", mintFor(t, "http://127.0.0.1:1")), "FAIL  discovery"},
		{"trust refuses", with("KEYLESS_AWS_TRUST_POLICY", trust), "FAIL  trust aws"},
	} {
		o := keyless(t, tc.env, "doctor")
		if o.Code != ExitFindings || !strings.Contains(o.Stdout, tc.want) {
			t.Errorf("%s: exit %d, want %d and %q\n%s%s", tc.name, o.Code, ExitFindings, tc.want, o.Stdout, o.Stderr)
		}
	}
	o = keyless(t, with("CI_JOB_TIMEOUT", "36000"), "doctor")
	if !strings.Contains(o.Stdout, "warn  lifetime") {
		t.Errorf("a job that outlives its token: no warning\n%s", o.Stdout)
	}
}

// mintFor mints a token whose iss is url (where no issuer answers).
func mintFor(t *testing.T, url string) string {
	t.Helper()
	other, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	other.URL = url
	return other.MustMint(t, oidctest.Job{})
}

// Trust the cloud cannot express is a usage error with the reason on
// stderr, never an empty success a script would take for a policy.
func TestPolicyNothingGeneratedIsAnError(t *testing.T) {
	t.Parallel()
	o := keyless(t, nil, "policy", "azure", "--group", "acme", "--issuer", "https://gitlab.com")
	if o.Code != ExitUsage || o.Stdout != "" || !strings.Contains(o.Stderr, "wrote no trust") || !strings.Contains(o.Stderr, "warning:") {
		t.Errorf("policy azure --group: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
}

// keyless doctor takes each provider's token variable, audience and trust
// document from the provider's own reading of its options (issue 14):
// Azure's default audience, GCP's from --provider, STS's --expected-aud;
// a provider whose options do not read is a failed check, and the others
// are still checked.
func TestDoctorReadsEachProvidersOptions(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	mint := func(aud string) string { return iss.MustMint(t, oidctest.Job{Audience: []string{aud}}) }
	env := map[string]string{
		"CI_SERVER_URL":           iss.URL,
		"KEYLESS_AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "KEYLESS_AZURE_TENANT_ID": "contoso.onmicrosoft.com",
		"KEYLESS_AZURE_TOKEN_VAR": "AZURE_ID_TOKEN", "AZURE_ID_TOKEN": mint(azure.DefaultAudience),
		"KEYLESS_GCP_PROVIDER": gcpProviderName, "KEYLESS_GCP_TOKEN_VAR": "GCP_ID_TOKEN", "GCP_ID_TOKEN": mint(gcpAud),
		"KEYLESS_STS_TOKEN_URL": "https://sso.example.com/token", "KEYLESS_STS_EXPECTED_AUD": "deploy-api",
		"KEYLESS_STS_TOKEN_VAR": "STS_ID_TOKEN", "STS_ID_TOKEN": mint("https://other.example.com"),
		"KEYLESS_VAULT_ROLE": "deploy", // no address: its options do not read
	}
	o := keyless(t, env, "doctor")
	if o.Code != ExitFindings {
		t.Errorf("exit %d, want %d", o.Code, ExitFindings)
	}
	for _, want := range []string{
		"ok    audience azure: aud " + azure.DefaultAudience,
		"ok    audience gcp: aud " + gcpAud,
		"FAIL  audience sts: aud is https://other.example.com, sts expects deploy-api",
		"FAIL  config vault: ",
	} {
		if !strings.Contains(o.Stdout, want) {
			t.Errorf("no %q line:\n%s%s", want, o.Stdout, o.Stderr)
		}
	}
}
