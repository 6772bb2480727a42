package report

import (
	"bytes"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// A Slack incoming webhook URL in a group variable is a credential: the
// report lists it as a chat webhook, says that no ID token exchange
// replaces it and how to keep and rotate it, and never shows the URL's
// secret parts (issue 16).
func TestCollectSlackWebhook(t *testing.T) {
	f := &fixture{gl: gitlabtest.New(t)}
	gl := f.gl
	gl.AddGroup("acme/apps")
	gl.AddProject("acme/apps/web")
	// The URL's shape follows https://api.slack.com/messaging/webhooks
	// (https://hooks.slack.com/services/T…/B…/…); its parts are synthetic.
	hook := "https://hooks.slack.com/services/T" + f.plant(synthetic("team", 10, upperDigits)) + "/B" +
		f.plant(synthetic("bot", 10, upperDigits)) + "/" + f.plant(synthetic("slack-hook", 24, b64url[:62]))
	gl.AddVariable("acme/apps", gitlabtest.Variable{Key: "SLACK_WEBHOOK_URL", Value: hook})
	gl.AddFile("acme/apps/web", "main", ".gitlab-ci.yml", `notify:
  script:
    - curl -X POST -H 'Content-type: application/json' --data '{"text":"deployed"}' "$SLACK_WEBHOOK_URL"
`)
	rep, err := Collect(t.Context(), f.options(t, acme))
	if err != nil {
		t.Fatal(err)
	}
	c := credByKey(t, rep, "SLACK_WEBHOOK_URL")
	if c.ID != "group:acme/apps:SLACK_WEBHOOK_URL:*" || c.Kind != KindChatWebhook || c.Service != "slack-webhook" || c.Confidence != "high" {
		t.Errorf("credential: %s %s %s %s (%s)", c.ID, c.Kind, c.Service, c.Confidence, c.Evidence)
	}
	if got := strings.Join(usageText(c), "\n"); got != "acme/apps/web notify .gitlab-ci.yml:1 references $SLACK_WEBHOOK_URL" {
		t.Errorf("usage: %s", got)
	}
	steps := strings.Join(c.Replacement.Steps, "\n")
	for _, want := range []string{"no ID token exchange replaces it", "masked and hidden, protected", "https://api.slack.com/messaging/webhooks", "of group acme/apps"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the steps lack %q:\n%s", want, steps)
		}
	}
	if c.Replacement.Component != "" || c.Replacement.Include != "" {
		t.Errorf("replacement: %+v", c.Replacement)
	}
	for _, format := range Formats() {
		r, err := NewRenderer(format)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := r.Render(&out, rep); err != nil {
			t.Fatal(err)
		}
		for _, canary := range f.canaries {
			if strings.Contains(out.String(), canary) {
				t.Errorf("%s output holds a part of the webhook URL", format)
			}
		}
		if format == "markdown" && !strings.Contains(out.String(), "Chat webhook URL") {
			t.Errorf("markdown output does not name the kind:\n%s", out.String())
		}
	}
}

// Each family gets its own steps: an ID token exchange where the service
// has one, else keep and rotate with the vendor's page.
func TestReplacementFamilies(t *testing.T) {
	rc := newReplaceContext("https://gitlab.example.com", "dev", nil)
	for _, tc := range []struct {
		kind, service string
		include, step string
	}{
		{KindPackage, "npm", `aud: "npm:registry.npmjs.org"`, "https://docs.npmjs.com/trusted-publishers"},
		{KindPackage, "pypi", "keyless/pypi@1", "https://docs.pypi.org/trusted-publishers/"},
		{KindPackage, "crates", "keyless/crates@1", "https://crates.io/docs/trusted-publishing"},
		{KindPackage, "rubygems", "", "https://guides.rubygems.org/api-key-scopes/"},
		{KindPackage, "nuget", "", "scoped-api-keys"},
		{KindChatWebhook, "discord-webhook", "", "support.discord.com"},
		{KindChatWebhook, "teams-webhook", "", "add-incoming-webhook"},
		{KindChatWebhook, "google-chat-webhook", "", "quickstart/webhooks"},
		{KindChatWebhook, "mattermost-webhook", "", "webhooks/incoming"},
		{KindSaaS, "github", "", "GitHub App installation token"},
		{KindSaaS, "slack", "", "api.slack.com/authentication/rotation"},
		{KindSaaS, "stripe", "", "docs.stripe.com/keys"},
		{KindSaaS, "sendgrid", "", "sendgrid"},
		{KindSaaS, "twilio", "", "docs/iam/api-keys"},
		{KindSaaS, "datadog", "", "api-app-keys"},
		{KindDatabase, "postgresql", "", "database secrets engine"},
		{KindPrivateKey, "", "", "SSH secrets engine"},
		{KindSigning, "", "", "accept the old one for verification only"},
	} {
		r := rc.replacement(&Credential{Key: "X_TOKEN", Kind: tc.kind, Service: tc.service, Level: levelProject, Owner: "g/a"})
		steps := strings.Join(r.Steps, "\n")
		if r.Component != "" || !strings.Contains(r.Include, tc.include) || (tc.include == "") != (r.Include == "") || !strings.Contains(steps, tc.step) || !strings.Contains(steps, "X_TOKEN") {
			t.Errorf("%s %s: include %q, steps:\n%s", tc.kind, tc.service, r.Include, steps)
		}
	}
}
