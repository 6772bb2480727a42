package pipeline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEnvReadersTable: every entry names a known credential, its tools
// and what it reads, and cites its source (issue 15).
func TestEnvReadersTable(t *testing.T) {
	for i, r := range EnvReaders {
		if Env(r.Env) == nil {
			t.Errorf("EnvReaders[%d] (%v): unknown env %q", i, r.Tools, r.Env)
		}
		if len(r.Tools) == 0 || len(r.Vars) == 0 || r.What == "" || r.Keys == "" {
			t.Errorf("EnvReaders[%d] (%v): tools, vars, what and keys are all required", i, r.Tools)
		}
		if !strings.HasPrefix(r.Source, "https://") {
			t.Errorf("EnvReaders[%d] (%v): source %q is not a link", i, r.Tools, r.Source)
		}
		if r.Program && r.Default {
			t.Errorf("EnvReaders[%d] (%v): a program is not a default reader", i, r.Tools)
		}
	}
	for _, e := range CredentialEnvs {
		if !strings.HasPrefix(e.Source, "https://") {
			t.Errorf("CredentialEnvs %s: source %q is not a link", e.Name, e.Source)
		}
	}
}

func TestCredentialUses(t *testing.T) {
	for _, tc := range []struct {
		name, job string
		want      []string // tool:env
	}{
		{"aws cli", `script: [aws s3 ls]`, []string{"aws:aws"}},
		{"aws version", `script: [aws --version, aws s3 ls --no-sign-request s3://public]`, nil},
		{"aws on another S3", `script: ["aws --endpoint-url https://minio.example.com s3 ls", "aws s3 ls --endpoint-url=$R2_ENDPOINT"]`, nil},
		{"aws on an AWS endpoint", `script: ["aws --endpoint-url https://s3.eu-west-1.amazonaws.com s3 ls"]`, []string{"aws:aws"}},
		{"another copilot", `script: [copilot --prompt "explain"]`, nil},
		{"terraform reads every cloud and its input variables", `script: [terraform apply -auto-approve]`,
			[]string{"terraform:aws", "terraform:gcp", "terraform:azure", "terraform:vault", "terraform:terraform"}},
		{"terraform without credentials", `script: [terraform fmt -check, terraform -chdir=infra validate, terraform init -backend=false]`, nil},
		{"gitlab-terraform", `script: [gitlab-terraform plan]`,
			[]string{"gitlab-terraform:aws", "gitlab-terraform:gcp", "gitlab-terraform:azure", "gitlab-terraform:vault", "gitlab-terraform:terraform"}},
		{"sls through npx", `script: [npx serverless deploy --stage prod]`, []string{"serverless:aws"}},
		{"packer validate", `script: [packer validate ami.pkr.hcl]`, nil},
		{"packer build", `script: [packer build ami.pkr.hcl]`, []string{"packer:aws", "packer:gcp"}},
		{"az reads nothing", `script: [az webapp deploy --name app]`, nil},
		{"gcloud", `script: [gcloud run deploy app]`, []string{"gcloud:gcp"}},
		{"program without cloud settings", `script: [python deploy.py]`, nil},
		{"program with AWS settings", `
  variables: {AWS_DEFAULT_REGION: eu-west-1}
  script: [python deploy.py, python -m pip install boto3, go test ./..., go run ./cmd/deploy]`,
			[]string{"python:aws", "go:aws"}},
		{"poetry run", `
  variables: {GOOGLE_CLOUD_PROJECT: example}
  script: [poetry run python deploy.py]`, []string{"python:gcp"}},
		{"vault", `script: [vault server -dev &, vault login -method=userpass username=ci, vault kv get secret/app]`, []string{"vault:vault"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Parse("", ".gitlab-ci.yml", []byte("job:\n  "+strings.TrimSpace(tc.job)+"\n"), Options{})
			v := p.JobViews()[0]
			var got []string
			for _, u := range v.CredentialUses {
				got = append(got, u.Command.Name+":"+u.Reader.Env)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("CredentialUses (-want +got):\n%s", d)
			}
		})
	}
}

func TestCredentialNames(t *testing.T) {
	for name, want := range map[string]bool{
		"VAULT_SECRET_ID": true, "TF_VAR_login_approle_secret_id": true, "APPROLE_SECRETID": true,
		"TF_VAR_key_vault_secret_id": false, "AZURE_SECRET_ID": false, "VAULT_ROLE_ID": false,
	} {
		if got := AppRoleSecretID(name); got != want {
			t.Errorf("AppRoleSecretID(%q) = %v", name, got)
		}
	}
	for name, want := range map[string]bool{
		"VAULT_PASSWORD": true, "VAULT_LDAP_PASSWORD": true, "CI_VAULT_PASS": true, "DB_PASSWORD": false, "VAULT_ADDR": false,
	} {
		if got := VaultPassword(name); got != want {
			t.Errorf("VaultPassword(%q) = %v", name, got)
		}
	}
}

// TestCredentialNamesCase: the names are matched upper-cased as
// strings.ToUpper does it, for names longer than upper's buffer and for
// non-ASCII ones too.
func TestCredentialNamesCase(t *testing.T) {
	long := strings.Repeat("x", 80)
	for name, want := range map[string]bool{
		"vault_secret_id": true, long + "_vault_secret_id": true, long + "_key_vault_secret_id": false,
		"vault_ſecret_id": true, "bao_secretid_é": true, "é_vault_role_id": false,
	} {
		if got := AppRoleSecretID(name); got != want {
			t.Errorf("AppRoleSecretID(%q) = %v", name, got)
		}
	}
	for name, want := range map[string]bool{
		"vault_password": true, long + "_vault_pass": true, "bao_paſs": true, "vault_paſs_x": false, long + "_db_password": false,
	} {
		if got := VaultPassword(name); got != want {
			t.Errorf("VaultPassword(%q) = %v", name, got)
		}
	}
}
