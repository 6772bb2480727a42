package cli

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm/npmtest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi/pypitest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// shapeIssuer serves the shape's tokens: under the shape's own path when
// its iss has one (a self-managed instance under a relative URL root).
func shapeIssuer(t *testing.T, s oidctest.Shape) *oidctest.Issuer {
	t.Helper()
	iss, _ := s.Claims["iss"].(string)
	if u, err := url.Parse(iss); err == nil && strings.Trim(u.Path, "/") != "" {
		return oidctest.NewServerAt(t, strings.TrimSuffix(u.Path, "/"))
	}
	return oidctest.NewServer(t)
}

// shapeAudience is aud for a provider in the shape's form: the shape's
// array with the provider's audience first, or the provider's alone.
func shapeAudience(s oidctest.Shape, aud string) []string {
	l, ok := s.Claims["aud"].([]any)
	if !ok {
		return []string{aud}
	}
	out := []string{aud}
	for _, a := range l[1:] {
		out = append(out, a.(string))
	}
	return out
}

func claim(s oidctest.Shape, name string) string {
	v, _ := s.Claims[name].(string)
	return v
}

// TestGitLabShapesThroughEveryCommand runs each ID token shape GitLab
// sends (testdata/gitlab/id-tokens) through every command that reads a
// token: token, token --verify, doctor, each provider's exchange against
// its fake, env and exec, and policy --from-token with explain for the
// four clouds. Each must succeed, and refuse a token minted for another
// audience the documented way (exit 3, naming the audience; explain
// exit 1). No output may carry the token.
func TestGitLabShapesThroughEveryCommand(t *testing.T) {
	t.Parallel()
	for _, s := range oidctest.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			iss := shapeIssuer(t, s)
			mint := func(aud string) string {
				return iss.MustMint(t, oidctest.Job{Shape: s.Name, Audience: shapeAudience(s, aud)})
			}
			expect := func(what string, o outcome, code int, tok string, wants ...string) {
				t.Helper()
				if o.Code != code {
					t.Errorf("%s: exit %d, want %d\n%s%s", what, o.Code, code, o.Stdout, o.Stderr)
				}
				for _, w := range wants {
					if !strings.Contains(o.Stdout+o.Stderr, w) {
						t.Errorf("%s: no %q in\n%s%s", what, w, o.Stdout, o.Stderr)
					}
				}
				noSecretsIn(t, o, tok)
			}
			const awsAud = "sts.amazonaws.com"
			awsTok, otherTok := mint(awsAud), mint("https://other.example.com")

			o := keyless(t, map[string]string{"KEYLESS_ID_TOKEN": awsTok}, "token")
			expect("token", o, 0, awsTok, claim(s, "project_path"), "ref_protected")
			o = keyless(t, map[string]string{"KEYLESS_ID_TOKEN": awsTok}, "token", "--verify", "--aud", awsAud, "--format", "json")
			expect("token --verify", o, 0, awsTok, "verified against "+iss.URL)
			var js map[string]any
			if err := json.Unmarshal([]byte(o.Stdout), &js); err != nil {
				t.Errorf("token --format json: %v", err)
			}

			sts := awstest.New(t)
			awsEnv := map[string]string{"KEYLESS_ID_TOKEN": awsTok, "KEYLESS_AWS_STS_ENDPOINT": sts.URL, "KEYLESS_AWS_ROLE_ARN": role,
				"AWS_ID_TOKEN": awsTok, "KEYLESS_AWS_TOKEN_VAR": "AWS_ID_TOKEN", "KEYLESS_AWS_AUDIENCE": awsAud, "CI_SERVER_URL": iss.URL}
			o = keyless(t, awsEnv, "doctor")
			expect("doctor", o, 0, awsTok, "ok    signature", "ok    audience aws")
			o = keyless(t, awsEnv, "aws", "--format", "json")
			expect("aws", o, 0, awsTok, `"AccessKeyId"`)
			if reqs := sts.Requests(); len(reqs) == 0 || reqs[len(reqs)-1].Form["WebIdentityToken"] != awsTok {
				t.Errorf("aws: the STS request did not carry the token as minted")
			}
			o = keyless(t, awsEnv, "env")
			expect("env", o, 0, awsTok, "AWS_SESSION_TOKEN")
			o = keyless(t, awsEnv, "exec", "--", "sh", "-c", `test -n "$AWS_SESSION_TOKEN"`)
			expect("exec", o, 0, awsTok)
			awsEnv["KEYLESS_ID_TOKEN"], awsEnv["AWS_ID_TOKEN"] = otherTok, otherTok
			o = keyless(t, awsEnv, "aws", "--format", "json")
			expect("aws, another audience", o, 3, otherTok, "audience")

			gcpTok := mint(gcpAud)
			g := gcptest.New(t)
			g.Issuer = iss.URL
			gcpEnv := map[string]string{"KEYLESS_ID_TOKEN": gcpTok, "KEYLESS_GCP_STS_ENDPOINT": g.URL, "KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": g.URL}
			o = keyless(t, gcpEnv, "gcp", "--provider", gcpProviderName, "--service-account", gcpSA, "--format", "json")
			expect("gcp", o, 0, gcpTok, "access_token")
			gcpEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, gcpEnv, "gcp", "--provider", gcpProviderName, "--format", "json")
			expect("gcp, another audience", o, 3, otherTok, "audience")

			azTok := mint(azuretest.Audience)
			entra := azuretest.New(t)
			entra.Trust(azuretest.FederatedCredential{Issuer: iss.URL, Subject: claim(s, "sub")})
			azEnv := map[string]string{"KEYLESS_ID_TOKEN": azTok, "KEYLESS_AZURE_CLIENT_ID": azuretest.ClientID,
				"KEYLESS_AZURE_TENANT_ID": azuretest.TenantID, "KEYLESS_AZURE_AUTHORITY_HOST": entra.URL}
			o = keyless(t, azEnv, "azure", "--format", "json")
			expect("azure", o, 0, azTok, "access_token")
			azEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, azEnv, "azure", "--format", "json")
			expect("azure, another audience", o, 3, otherTok, "audience")

			vTok := mint(vaulttest.DefaultAudience)
			v := vaulttest.New(t)
			v.DiscoveryURL, v.BoundIssuer = iss.URL, iss.URL
			r := v.Roles["deploy"]
			r.BoundClaims = map[string]any{"project_path": claim(s, "project_path"), "ref_protected": claim(s, "ref_protected")}
			v.Roles["deploy"] = r
			vEnv := map[string]string{"KEYLESS_ID_TOKEN": vTok, "VAULT_ADDR": v.URL, "KEYLESS_STATE_DIR": filepath.Join(t.TempDir(), "state")}
			o = keyless(t, vEnv, "vault", "--role", "deploy", "--secret", "DB_PASSWORD=secret/ci/db#password", "--format", "json")
			expect("vault", o, 0, vTok, "DB_PASSWORD")
			vEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, vEnv, "vault", "--role", "deploy", "--secret", "DB_PASSWORD=secret/ci/db#password", "--format", "json")
			expect("vault, another audience", o, 3, otherTok, "audience")

			stsTok := mint(stsAud)
			srv := ststest.New(t)
			srv.Verify = exchangetest.TrustIssuer(iss.URL, stsAud)
			stsEnv := map[string]string{"KEYLESS_ID_TOKEN": stsTok, "KEYLESS_STS_TOKEN_URL": srv.TokenURL()}
			o = keyless(t, stsEnv, "sts", "--format", "json")
			expect("sts", o, 0, stsTok, "access_token")
			stsEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, stsEnv, "sts", "--expected-aud", stsAud, "--format", "json")
			expect("sts, another audience", o, 3, otherTok, "audience")

			// The registries (issue 18) match a publisher on claims some
			// shapes lack: a publisher made from the shape's own claims
			// admits the job when its pipeline file is the project's own
			// (and, for PyPI, on gitlab.com, with ref_path and sha);
			// otherwise the refusal is explained.
			pypiTok := mint("pypi")
			decoded, err := idtoken.Decode(secret.New(pypiTok))
			if err != nil {
				t.Fatal(err)
			}
			pub := decoded.Claims.GitLabPublisher()
			idx := pypitest.New(t)
			idx.Verify = exchangetest.TrustIssuer(iss.URL, "pypi")
			idx.Publishers = []pypitest.Publisher{{Namespace: pub.Namespace, Project: pub.Project, WorkflowFilepath: pub.CIFile}}
			pypiEnv := map[string]string{"KEYLESS_ID_TOKEN": pypiTok, "KEYLESS_PYPI_INDEX_URL": idx.URL}
			o = keyless(t, pypiEnv, "pypi", "--format", "json")
			if pub.CIFile != "" && pub.CIConfigHost == "gitlab.com" && decoded.Claims.RefPath != "" && decoded.Claims.SHA != "" {
				expect("pypi", o, 0, pypiTok, `"token"`)
			} else {
				expect("pypi, a job PyPI cannot match", o, 3, pypiTok, "invalid-publisher", "Top-level pipeline file path")
			}
			pypiEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, pypiEnv, "pypi", "--format", "json")
			expect("pypi, another audience", o, 3, otherTok, "audience")

			reg := npmtest.New(t)
			npmTok := mint(reg.Audience())
			reg.Verify = exchangetest.TrustIssuer(iss.URL, reg.Audience())
			reg.Packages["@acme/lib"] = npmtest.Publisher{Namespace: pub.Namespace, Project: pub.Project, CIFile: pub.CIFile}
			npmEnv := map[string]string{"KEYLESS_ID_TOKEN": npmTok, "KEYLESS_NPM_REGISTRY": reg.URL, "KEYLESS_NPM_PACKAGE": "@acme/lib"}
			o = keyless(t, npmEnv, "npm", "--format", "json")
			if pub.CIFile != "" {
				expect("npm", o, 0, npmTok, `"token"`)
			} else {
				expect("npm, a job npm cannot match", o, 3, npmTok, "unauthorized", "Top-level CI file path")
			}
			npmEnv["KEYLESS_ID_TOKEN"] = otherTok
			o = keyless(t, npmEnv, "npm", "--format", "json")
			expect("npm, another audience", o, 3, otherTok, "audience")

			for _, p := range policyProviders() {
				tok := mint(policyAudience[p.Name()])
				dir := t.TempDir()
				o := keyless(t, map[string]string{"KEYLESS_ID_TOKEN": tok}, "policy", p.Name(), "--from-token", "--format", "json", "--output-dir", dir)
				expect("policy "+p.Name()+" --from-token", o, 0, tok)
				docs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
				if len(docs) != 1 {
					t.Errorf("policy %s --from-token wrote %v, want one JSON document", p.Name(), docs)
					continue
				}
				o = keyless(t, map[string]string{"KEYLESS_ID_TOKEN": tok}, "explain", p.Name(), "--"+documentFlags[p.Name()], docs[0])
				expect("explain "+p.Name(), o, 0, tok, "admitted: ")
				o = keyless(t, map[string]string{"KEYLESS_ID_TOKEN": otherTok}, "explain", p.Name(), "--"+documentFlags[p.Name()], docs[0])
				expect("explain "+p.Name()+", another audience", o, 1, otherTok, "refused: ")
			}
		})
	}
}
