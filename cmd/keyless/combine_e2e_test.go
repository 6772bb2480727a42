package main

// Three catalog components in one job, run by gitlab-ci-local: a job that
// extends .keyless-aws, .keyless-gcp and .keyless-vault gets all three
// clouds' credentials from the one `keyless env` of its before_script,
// because extends merges id_tokens and variables. AWS is MinIO's real STS;
// Google's STS and IAM Credentials and Vault are the project's fakes
// (gcptest, vaulttest) on loopback, which the job's keyless reaches as it
// would reach the real services.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
)

const combinedPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: {{role}}
      sts_endpoint: {{sts}}
      install: path
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/gcp@$CI_COMMIT_SHA
    inputs:
      provider: projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/keyless
      service_account: {{sa}}
      project: keyless-demo
      install: path
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/vault@$CI_COMMIT_SHA
    inputs:
      addr: {{vault}}
      role: deploy
      aud: {{vaultaud}}
      secrets: DB_PASSWORD=secret/ci/db#password
      secret_files: secret/ci/db#username={{userfile}}
      install: path

deploy:
  extends: [.keyless-vault, .keyless-aws, .keyless-gcp]
  variables:
    # Where the fake Google APIs listen; a Private Service Connect endpoint
    # is set the same way.
    KEYLESS_GCP_STS_ENDPOINT: {{gcp}}
    KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT: {{gcp}}
  script:
    - printf '%s\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "$CLOUDSDK_AUTH_ACCESS_TOKEN" "$GOOGLE_OAUTH_ACCESS_TOKEN" "$DB_PASSWORD" "$(cat {{userfile}})" > "$KEYLESS_TEST_SPY"
    - echo "project=$CLOUDSDK_CORE_PROJECT"
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 mb s3://{{bucket}}
`

func TestE2EGitLabCIComponentsCombineInOneJob(t *testing.T) {
	p := e2e(t)
	const sa = "deploy@keyless-demo.iam.gserviceaccount.com"
	const vaultToken = "hvs.e2e-combined-vault-token-0123456789"

	gcp := gcptest.New(t)
	gcp.Issuer = p.IssuerURL
	gcp.ServiceAccounts = []string{sa}
	v := vaulttest.New(t)
	v.DiscoveryURL = p.IssuerURL
	v.BoundIssuer = p.IssuerURL
	v.NextTokens = []string{vaultToken}

	work := t.TempDir()
	userFile := filepath.Join(work, "db.user") // outside the project, as the component requires
	spy := filepath.Join(work, "spy")
	bucket := bucketName("keyless-gcl-combined")
	g := newGCLProject(t, p, expand(combinedPipeline, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL, "{{sa}}", sa,
		"{{vault}}", v.URL, "{{vaultaud}}", vaulttest.DefaultAudience, "{{userfile}}", userFile, "{{gcp}}", gcp.URL, "{{bucket}}", bucket))

	// GitLab's part: one token per id_tokens entry, each with its audience.
	ids := g.idTokens(t, "deploy")
	for _, name := range []string{"KEYLESS_AWS_ID_TOKEN", "KEYLESS_GCP_ID_TOKEN", "KEYLESS_VAULT_ID_TOKEN"} {
		if _, ok := ids[name]; !ok {
			t.Fatalf("extends did not merge the id_tokens: %s is missing from %v", name, ids)
		}
	}
	tokens := p.mintIDTokens(t, g, "deploy")
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": spy}
	for name, tok := range tokens {
		vars[name] = tok
	}

	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	out := r.Stdout + r.Stderr
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s", r.Code, out)
	}

	// Each provider says what it set, once, in the job log.
	for _, want := range []string{`keyless: aws: assumed`, `keyless: gcp: `, `keyless: vault: logged in with role "deploy"`} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("%q appears %d times in the job log, want once:\n%s", want, n, out)
		}
	}
	b, err := os.ReadFile(spy)
	if err != nil {
		t.Fatalf("the job did not record its credentials: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(got) != 6 {
		t.Fatalf("the job recorded %d lines, want 6", len(got))
	}
	if got[0] == "" || got[1] == "" {
		t.Error("the job has no AWS credentials")
	}
	if got[2] != gcp.AccessToken || got[3] != gcp.AccessToken {
		t.Error("the job does not have the service account's token in CLOUDSDK_AUTH_ACCESS_TOKEN and GOOGLE_OAUTH_ACCESS_TOKEN")
	}
	if got[4] != "fake-db-password" || got[5] != "ci" {
		t.Error("the job does not have the Vault secret and secret file")
	}
	if !regexp.MustCompile(`(?m)^deploy\s+> project=keyless-demo$`).MatchString(r.Stdout) {
		t.Errorf("CLOUDSDK_CORE_PROJECT did not reach the script:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "make_bucket: "+bucket) {
		t.Errorf("the AWS credentials did not work against MinIO:\n%s", out)
	}

	// Each exchange presented its own token: the audiences differ.
	for _, req := range gcp.Requests() {
		if req.Form != nil && req.Form["subject_token"] != tokens["KEYLESS_GCP_ID_TOKEN"] {
			t.Error("Google's STS got a token other than KEYLESS_GCP_ID_TOKEN")
		}
	}
	if gcp.Count(gcptest.STS) != 1 || gcp.Count(gcptest.IAM) != 1 {
		t.Errorf("Google got %d STS and %d IAM Credentials calls, want 1 and 1", gcp.Count(gcptest.STS), gcp.Count(gcptest.IAM))
	}

	// after_script: the Vault token is revoked although .keyless-vault is
	// not last in extends, and the secret file is gone.
	if info, ok := v.Token(vaultToken); !ok || !info.Revoked {
		t.Errorf("the Vault token outlived the job (issued %v):\n%s", ok, out)
	}
	if _, err := os.Stat(userFile); !os.IsNotExist(err) {
		t.Error("the Vault secret file outlived the job")
	}

	secrets := map[string]string{"AWS secret access key": got[0], "AWS session token": got[1],
		"Google access token": gcp.AccessToken, "Google federated token": gcp.FederatedToken,
		"Vault token": vaultToken, "Vault secret": "fake-db-password"}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
}
