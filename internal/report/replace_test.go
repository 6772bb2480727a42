package report

import (
	"strings"
	"testing"
)

// The trust follows each project's sub claim components and default
// branch, and the instance's host.
func TestReplacementSubjects(t *testing.T) {
	projects := []Project{
		{Path: "g/a", ID: 11, DefaultBranch: "trunk", IDTokenSubClaimComponents: []string{"project_path", "ref_type", "ref", "project_id"}},
		{Path: "g/b", ID: 12},
	}
	rc := newReplaceContext("https://git.example.org/gitlab/", "dev", projects)
	c := &Credential{Key: "AWS_SECRET_ACCESS_KEY", Level: levelGroup, Owner: "g", Kind: KindAWS,
		Usage: []Usage{{Project: "g/b", Job: "x"}, {Project: "g/a", Job: "deploy:prod"}, {Project: "g/a", Job: "true"}}}
	r := rc.replacement(c)
	for _, want := range []string{
		"keyless/aws@" + defaultComponentVersion,
		`"git.example.org/gitlab:sub"`,
		"project_path:g/a:ref_type:branch:ref:trunk:project_id:11",
		"project_path:g/b:ref_type:branch:ref:main",
		"\ndeploy:prod:\n  extends: .keyless-aws",
		"\n\"true\":\n  extends: .keyless-aws",
		"--url https://git.example.org/gitlab ",
	} {
		if !strings.Contains(r.Include+r.Trust+strings.Join(r.Steps, "\n"), want) {
			t.Errorf("the replacement lacks %q:\n%s\n%s\n%s", want, r.Include, r.Trust, strings.Join(r.Steps, "\n"))
		}
	}
	// Unused: a placeholder project under the owner.
	r = rc.replacement(&Credential{Key: "ARM_CLIENT_SECRET", Level: levelGroup, Owner: "g", Kind: KindAzure})
	if !strings.Contains(r.Trust, "project_path:g/PROJECT:ref_type:branch:ref:main") || !strings.Contains(r.Include, "your-job:") {
		t.Errorf("unused credential:\n%s\n%s", r.Include, r.Trust)
	}
	if r := rc.replacement(&Credential{Key: "NPM_TOKEN", Kind: KindOther, Level: levelProject, Owner: "g/a"}); r.Component != "" || r.Include != "" || len(r.Steps) == 0 {
		t.Errorf("other: %+v", r)
	}
}

// A Vault credential's last step fits what it is: a token, an AppRole
// secret_id, a password (issue 15).
func TestReplacementVaultKinds(t *testing.T) {
	rc := newReplaceContext("https://gitlab.example.com", "dev", nil)
	for key, want := range map[string]string{
		"VAULT_TOKEN":                    "vault token revoke",
		"TF_VAR_login_approle_secret_id": "secret-id/destroy",
		"VAULT_PASSWORD":                 "auth/userpass/users/USER",
	} {
		r := rc.replacement(&Credential{Key: key, Kind: KindVault, Level: levelProject, Owner: "g/a"})
		if r.Component != "vault" || !strings.Contains(r.Steps[len(r.Steps)-1], want) {
			t.Errorf("%s: component %q, last step %q, want it to hold %q", key, r.Component, r.Steps[len(r.Steps)-1], want)
		}
	}
}
