package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// -update-render, not -update: other test files of the package may
// define -update.
var updateRender = flag.Bool("update-render", false, "rewrite testdata/render/* from the current output")

const renderHostile = "<script>alert('x')</script> | `tick` =cmd ünïcødé ☕ @all #1 ~label **bold** [link](javascript:alert(1))"

const renderAWSInclude = `include:
  - component: $CI_SERVER_FQDN/keyless-ci/keyless/aws@1
    inputs:
      role_arn: "arn:aws:iam::123456789012:role/deploy|prod"
      # ` + "```" + ` a fence in a comment, <script>alert(1)</script>
      session_name: "=cmd|' /C calc'!A0 ünïcødé"
`

const renderAWSTrust = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringLike": {"gitlab.example.com:sub": "project_path:acme/app:ref_type:branch:ref:main"}},
    "Sid": "<script>alert(1)</script> | ` + "`x`" + `"
  }]
}`

const renderGCPTrust = `resource "google_iam_workload_identity_pool_provider" "gitlab" {
  attribute_condition = "assertion.project_path == \"acme/platform\" && assertion.ref == \"main\""
  # <b>not bold</b> | pipe
}`

// renderFixture is a report over a group with a dozen credentials of
// every kind, level and exposure, and values that need escaping in
// every format.
func renderFixture() *Report {
	aws := Replacement{Component: "aws", Include: renderAWSInclude, Trust: renderAWSTrust, Steps: []string{
		"Add the include to the jobs that use the key and run them.",
		"Deactivate the access key: aws iam update-access-key --status Inactive",
		"- then delete the variable | and the IAM user's key",
	}}
	return &Report{
		Version:     Version,
		Tool:        Tool{Name: "keyless", Version: "1.4.0"},
		GitLabURL:   "https://gitlab.example.com",
		Scope:       Scope{Kind: "group", Paths: []string{"acme"}},
		GeneratedAt: time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC),
		Summary: Summary{
			Groups: 1, Subgroups: 2, Projects: 6, ProjectsFailed: 2, Credentials: 12, Findings: 4,
			ByKind:     map[string]int{KindAWS: 3, KindGCP: 2, KindAzure: 2, KindVault: 1, KindGitLab: 1, KindRegistry: 1, KindOther: 2},
			ByExposure: map[string]int{ExposureUnprotected: 5},
			ByLevel:    map[string]int{"instance": 1, "group": 3, "project": 8},
			Requests:   &Requests{Sent: 31, Throttled: 2, Retried: 2},
		},
		Credentials: []Credential{
			{
				ID: "project:acme/app:VAULT_TOKEN:*", Key: "VAULT_TOKEN", Level: "project", Owner: "acme/app", EnvironmentScope: "*", Type: "env_var",
				Kind: KindVault, Evidence: "value: Vault service token, 95 chars", Confidence: "high",
				Exposure: []string{ExposureUnprotected, ExposureUnmasked, ExposureAllEnvs, ExposureNotHidden},
				Usage: []Usage{
					{Project: "acme/app", Job: "<script>alert(1)</script>", File: ".gitlab-ci.yml", Line: 12, How: "references $VAULT_TOKEN"},
					{Project: "acme/app", Job: "deploy | prod", File: "ci/deploy.yml", Line: 3, How: "runs vault (reads VAULT_TOKEN from the environment)"},
				},
				Replacement: Replacement{Component: "vault", Include: "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/vault@1\n    inputs:\n      role: ci-`deploy`\n", Trust: `path "auth/jwt/role/ci" {` + "\n  bound_claims = { project_path = \"acme/app\" }\n}", Steps: []string{"Revoke the token: vault token revoke -accessor …"}},
			},
			{
				ID: "instance::AWS_ACCESS_KEY_ID:*", Key: "AWS_ACCESS_KEY_ID", Level: "instance", EnvironmentScope: "*", Type: "env_var",
				Kind: KindAWS, Evidence: "value: AWS access key id, 20 chars", Confidence: "high",
				Exposure: []string{ExposureInstance, ExposureUnprotected, ExposureAllEnvs, ExposureNotHidden},
				Usage: []Usage{
					{Project: "acme/app", Job: "deploy", File: ".gitlab-ci.yml", Line: 40, How: "runs aws (reads AWS_* from the environment)"},
					{Project: "acme/api", Job: "publish", File: ".gitlab-ci.yml", Line: 7, How: "references $AWS_ACCESS_KEY_ID"},
				},
				Replacement: aws,
			},
			{
				ID: "group:acme/platform:GOOGLE_APPLICATION_CREDENTIALS:*", Key: "GOOGLE_APPLICATION_CREDENTIALS", Level: "group", Owner: "acme/platform", EnvironmentScope: "*", Type: "file",
				Protected: true, Kind: KindGCP, Evidence: "value: GCP service account key (JSON, type service_account)", Confidence: "high",
				Exposure:    []string{ExposureGroup, ExposureAllEnvs, ExposureNotHidden},
				Usage:       []Usage{{Project: "acme/api", Job: "terraform:apply", File: "infra/.gitlab-ci.yml", Line: 21, How: "runs gcloud (reads GOOGLE_APPLICATION_CREDENTIALS)"}},
				Replacement: Replacement{Component: "gcp", Include: "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/gcp@1\n", Trust: renderGCPTrust, Steps: []string{"Delete the service account key.", "Delete the variable."}},
			},
			{
				ID: "group:acme:AZURE_CLIENT_SECRET:production", Key: "AZURE_CLIENT_SECRET", Level: "group", Owner: "acme", EnvironmentScope: "production", Type: "env_var",
				Protected: true, Hidden: true, Kind: KindAzure, Evidence: "name: AZURE_CLIENT_SECRET", Confidence: "medium",
				Exposure:    []string{ExposureGroup, ExposureUnmasked},
				Usage:       []Usage{{Project: "acme/web", Job: "deploy:azure", File: ".gitlab-ci.yml", Line: 55, How: "references $AZURE_CLIENT_SECRET"}},
				Replacement: Replacement{Component: "azure", Include: "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/azure@1\n", Trust: "az ad app federated-credential create --id <app-id> --parameters '{\"subject\": \"project_path:acme/web:ref_type:branch:ref:main\"}'", Steps: []string{"Delete the client secret in Entra ID."}},
			},
			{
				ID: "group:acme/platform:AWS_SECRET_ACCESS_KEY:review/*", Key: "AWS_SECRET_ACCESS_KEY", Level: "group", Owner: "acme/platform", EnvironmentScope: "review/*", Type: "env_var",
				Kind: KindAWS, Evidence: "name: AWS_SECRET_ACCESS_KEY", Confidence: "medium",
				Exposure: []string{ExposureGroup, ExposureUnprotected, ExposureUnmasked},
				Usage: []Usage{
					{Project: "acme/web", Job: "review", File: ".gitlab-ci.yml", Line: 70, How: "references $AWS_SECRET_ACCESS_KEY"},
					{Project: "-evil/x", Job: "steal", File: ".gitlab-ci.yml", Line: 1, How: "references $AWS_SECRET_ACCESS_KEY"},
				},
				Replacement: aws,
			},
			{
				ID: "project:acme/app:GITLAB_TOKEN:*", Key: "GITLAB_TOKEN", Level: "project", Owner: "acme/app", EnvironmentScope: "*", Type: "env_var",
				Masked: true, Kind: KindGitLab, Evidence: "value: GitLab personal access token, 26 chars", Confidence: "high",
				Exposure:    []string{ExposureUnprotected, ExposureAllEnvs, ExposureNotHidden},
				Usage:       []Usage{{Project: "acme/app", Job: "release", File: ".gitlab-ci.yml", Line: 90, How: "references $GITLAB_TOKEN"}},
				Replacement: Replacement{Steps: []string{"Use CI_JOB_TOKEN and allow acme/app in the target project's job token allowlist.", "1. Revoke the token in the user's settings."}},
			},
			{
				ID: "project:acme/web:REGISTRY_PASSWORD:production", Key: "REGISTRY_PASSWORD", Level: "project", Owner: "acme/web", EnvironmentScope: "production", Type: "env_var",
				Protected: true, Masked: true, Hidden: true, Kind: KindRegistry, Evidence: "name: REGISTRY_PASSWORD", Confidence: "low",
				Exposure:    []string{},
				Replacement: Replacement{Steps: []string{"Use CI_REGISTRY_PASSWORD for the project's own registry."}},
			},
			{
				ID: "project:acme/web:DEPLOY_KEY:*", Key: "DEPLOY_KEY", Level: "project", Owner: "acme/web", EnvironmentScope: "*", Type: "env_var",
				Protected: true, Kind: KindOther, Evidence: "value: private key (PEM), 1679 chars", Confidence: "high",
				Description: renderHostile,
				Exposure:    []string{ExposureUnmasked, ExposureKeyFile, ExposureAllEnvs, ExposureNotHidden},
				Usage:       []Usage{{Project: "acme/web", Job: "ssh", File: ".gitlab-ci.yml", Line: 101, How: "references $DEPLOY_KEY"}},
				Replacement: Replacement{Steps: []string{"Use a deploy key scoped to one repository, or SSH certificates signed by Vault."}},
			},
			{
				ID: "project:acme/app:AWS_SECRET_ACCESS_KEY:=1+2", Key: "AWS_SECRET_ACCESS_KEY", Level: "project", Owner: "acme/app", EnvironmentScope: "=1+2", Type: "env_var",
				Protected: true, Masked: true, Kind: KindAWS, Evidence: "value: AWS secret access key (40 chars)", Confidence: "high",
				Exposure:    []string{ExposureNotHidden},
				Usage:       []Usage{{Project: "acme/app", Job: "=HYPERLINK(\"http://evil\")", File: ".gitlab-ci.yml", Line: 41, How: "runs aws (reads AWS_* from the environment)"}},
				Replacement: aws,
			},
			{
				ID: "project:acme/api:AZURE_CLIENT_SECRET:*", Key: "AZURE_CLIENT_SECRET", Level: "project", Owner: "acme/api", EnvironmentScope: "*", Type: "env_var",
				Protected: true, Masked: true, Kind: KindAzure, Evidence: "value: Azure client secret, 40 chars | café", Confidence: "high",
				Exposure: []string{ExposureAllEnvs, ExposureNotHidden},
				Usage:    []Usage{{Project: "acme/api", Job: "deploy", File: ".gitlab-ci.yml", Line: 30, How: "references $AZURE_CLIENT_SECRET"}},
				Replacement: Replacement{Component: "azure", Include: "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/azure@1\n    inputs:\n      client_id: \"<script>alert('café ☕')</script>\"\n",
					Trust: `{"issuer": "https://gitlab.example.com", "subject": "project_path:acme/api:ref_type:branch:ref:main", "audiences": ["api://AzureADTokenExchange"], "description": "<script>x</script> | =cmd"}`,
					Steps: []string{"Delete the client secret in Entra ID."}},
			},
			{
				ID: "project:acme/api:GCP_SA_KEY:*", Key: "GCP_SA_KEY", Level: "project", Owner: "acme/api", EnvironmentScope: "*", Type: "env_var",
				Kind: KindGCP, Evidence: "value: GCP service account key (JSON)", Confidence: "high",
				Exposure:    []string{ExposureUnprotected, ExposureUnmasked, ExposureKeyFile, ExposureAllEnvs, ExposureNotHidden},
				Replacement: Replacement{Component: "gcp", Include: "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/gcp@1\n", Trust: renderGCPTrust, Steps: []string{"Delete the service account key."}},
			},
			{
				ID: "project:acme/legacy:NPM_TOKEN:*", Key: "NPM_TOKEN", Level: "project", Owner: "acme/legacy", EnvironmentScope: "*", Type: "env_var",
				Protected: true, Kind: KindOther, Evidence: "name: NPM_TOKEN | pipe `tick` <b>", Confidence: "low",
				Exposure:    []string{ExposureUnmasked, ExposureAllEnvs, ExposureNotHidden},
				Usage:       []Usage{{Project: "acme/legacy", Job: "publish", File: ".gitlab-ci.yml", Line: 5, How: "references $NPM_TOKEN"}},
				Replacement: Replacement{Steps: []string{"Use npm trusted publishing from GitLab CI/CD."}},
			},
		},
		Projects: []Project{
			{Path: "acme/web", ID: 2, WebURL: "https://gitlab.example.com/acme/web", Status: "ok", CIConfigPath: ".gitlab-ci.yml", Jobs: 9,
				Findings: []Finding{{Rule: "stored-azure-secret", Severity: "major", File: ".gitlab-ci.yml", Line: 55, Message: "job deploy:azure uses $AZURE_CLIENT_SECRET | use the azure component"}}},
			{Path: "acme/app", ID: 1, WebURL: "https://gitlab.example.com/acme/app", Status: "ok", CIConfigPath: ".gitlab-ci.yml", Jobs: 12,
				IDTokenSubClaimComponents: []string{"project_path", "ref_type", "ref"},
				Findings: []Finding{
					{Rule: "stored-aws-keys", Severity: "critical", File: ".gitlab-ci.yml", Line: 40, Message: "job deploy runs aws with stored keys"},
					{Rule: "debug-trace", Severity: "major", File: ".gitlab-ci.yml", Line: 2, Message: "CI_DEBUG_TRACE prints <every> variable"},
				}},
			{Path: "acme/api", ID: 3, WebURL: "https://gitlab.example.com/acme/api", Status: "ok", CIConfigPath: ".gitlab-ci.yml", Jobs: 4,
				Findings: []Finding{{Rule: "hardcoded-secret", Severity: "blocker", File: "=cmd.yml", Line: 1, Message: "`secret` in a script"}}},
			{Path: "acme/legacy", ID: 4, WebURL: "https://gitlab.example.com/acme/legacy", Status: "forbidden", Error: "403 Forbidden: <html>need Maintainer</html> | retry"},
			{Path: "acme/gone", ID: 5, Status: "not-found", Error: "404 Project Not Found"},
			{Path: "-evil/x", ID: 6, WebURL: "javascript:alert(1)", Status: "ok", Jobs: 1},
		},
		Errors: []Error{{What: "instance variables", Status: "forbidden", Error: "403 Forbidden: an administrator's token is needed"}},
	}
}

// renderEmptyFixture is a report over a project with no credential.
func renderEmptyFixture() *Report {
	return &Report{
		Version:     Version,
		Tool:        Tool{Name: "keyless", Version: "1.4.0"},
		GitLabURL:   "https://gitlab.com",
		Scope:       Scope{Kind: "project", Paths: []string{"acme/app"}},
		GeneratedAt: time.Date(2025, 3, 4, 9, 30, 0, 0, time.UTC),
		Summary:     Summary{Projects: 1},
		Projects:    []Project{{Path: "acme/app", ID: 1, Status: "ok"}},
	}
}

func renderString(t *testing.T, format string, r *Report) string {
	t.Helper()
	rd, err := NewRenderer(format)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rd.Render(&b, r); err != nil {
		t.Fatalf("%s: Render: %v", format, err)
	}
	return b.String()
}

var renderExt = map[string]string{"markdown": "md", "json": "json", "csv": "csv", "html": "html"}

func TestRenderGolden(t *testing.T) {
	fixtures := map[string]func() *Report{"report": renderFixture, "empty": renderEmptyFixture}
	for name, fixture := range fixtures {
		for _, format := range Formats() {
			file := name + "." + renderExt[format]
			t.Run(file, func(t *testing.T) {
				checkGolden(t, filepath.Join("testdata", "render", file), renderString(t, format, fixture()))
			})
		}
	}
}

// checkGolden compares got with the file at path, or rewrites the file
// under -update-render.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *updateRender {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report -update-render writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test ./internal/report -update-render rewrites it):\n%s", path, diff)
	}
}

func TestRenderFormats(t *testing.T) {
	if diff := cmp.Diff([]string{"markdown", "json", "csv", "html"}, Formats()); diff != "" {
		t.Errorf("Formats() (-want +got):\n%s", diff)
	}
	_, err := NewRenderer("pdf")
	if err == nil {
		t.Fatal(`NewRenderer("pdf"): no error`)
	}
	for _, want := range []string{`"pdf"`, "markdown, json, csv, html"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewRenderer(\"pdf\") error %q does not say %s", err, want)
		}
	}
	for _, f := range Formats() {
		rd, err := NewRenderer(f)
		if err != nil {
			t.Fatalf("NewRenderer(%q): %v", f, err)
		}
		if err := rd.Render(io.Discard, nil); err == nil {
			t.Errorf("%s: Render(nil report): no error", f)
		}
	}
}

// TestRenderKeepsReport checks that no renderer sorts or changes the
// report it is given.
func TestRenderKeepsReport(t *testing.T) {
	r := renderFixture()
	for _, f := range Formats() {
		renderString(t, f, r)
		if diff := cmp.Diff(renderFixture(), r); diff != "" {
			t.Fatalf("%s changed the report (-before +after):\n%s", f, diff)
		}
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	out := renderString(t, "json", renderFixture())
	var got Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the JSON report does not decode into a Report: %v", err)
	}
	want := renderFixture()
	slices.SortFunc(want.Credentials, func(a, b Credential) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(want.Projects, func(a, b Project) int { return strings.Compare(a.Path, b.Path) })
	for i := range want.Projects {
		slices.SortFunc(want.Projects[i].Findings, compareFindingPos)
	}
	for i := range want.Credentials {
		slices.SortFunc(want.Credentials[i].Usage, compareUsagePos)
	}
	if diff := cmp.Diff(want, &got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(out, "{\n  \"version\": 1,\n") {
		t.Errorf("the JSON report does not start with its version, 2-space indented:\n%.80s", out)
	}

	// Empty lists are [], empty maps {}: never null.
	empty := renderString(t, "json", &Report{})
	if strings.Contains(empty, "null") {
		t.Errorf("the JSON of an empty report has null:\n%s", empty)
	}
	for _, want := range []string{`"credentials": []`, `"projects": []`, `"errors": []`, `"paths": []`, `"by_kind": {}`, `"version": 1`} {
		if !strings.Contains(empty, want) {
			t.Errorf("the JSON of an empty report lacks %s:\n%s", want, empty)
		}
	}
}

func TestRenderCSV(t *testing.T) {
	r := renderFixture()
	records, err := csv.NewReader(strings.NewReader(renderString(t, "csv", r))).ReadAll()
	if err != nil {
		t.Fatalf("the CSV report does not parse: %v", err)
	}
	if len(records) != len(r.Credentials)+1 {
		t.Fatalf("%d records, want a header and %d credentials", len(records), len(r.Credentials))
	}
	if diff := cmp.Diff(csvHeader, records[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var ids []string
	for _, rec := range records[1:] {
		if len(rec) != len(csvHeader) {
			t.Errorf("record %q has %d fields, want %d", rec, len(rec), len(csvHeader))
			continue
		}
		ids = append(ids, rec[0])
		for i, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("column %s cell %q starts a formula", csvHeader[i], cell)
			}
		}
	}
	var want []string
	for _, c := range r.Credentials {
		want = append(want, c.ID)
	}
	if diff := cmp.Diff(want, ids, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	row := func(id string) map[string]string {
		for _, rec := range records[1:] {
			if rec[0] == id {
				m := map[string]string{}
				for i, h := range csvHeader {
					m[h] = rec[i]
				}
				return m
			}
		}
		t.Fatalf("no row %s", id)
		return nil
	}
	for id, want := range map[string]map[string]string{
		"project:acme/app:AWS_SECRET_ACCESS_KEY:=1+2":        {"environment_scope": "'=1+2", "projects": "acme/app", "usage_count": "1", "component": "aws"},
		"group:acme/platform:AWS_SECRET_ACCESS_KEY:review/*": {"projects": "'-evil/x;acme/web", "exposure": "group-level;unprotected;unmasked", "usage_count": "2"},
		"instance::AWS_ACCESS_KEY_ID:*":                      {"owner": "", "protected": "false", "exposure": "instance-level;unprotected;all-environments;not-hidden", "projects": "acme/api;acme/app"},
	} {
		got := row(id)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", id, k, got[k], v)
			}
		}
	}
	if got := row(records[1][0]); got["level"] != "instance" {
		t.Errorf("first row is %s, want the instance credential (most exposed first)", got["id"])
	}

	empty, err := csv.NewReader(strings.NewReader(renderString(t, "csv", renderEmptyFixture()))).ReadAll()
	if err != nil || len(empty) != 1 {
		t.Errorf("CSV of an empty report: %d records (%v), want the header alone", len(empty), err)
	}
}

func TestRenderCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "acme": "acme", "=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "-2": "'-2", "@x": "'@x",
		"\tx": "'\tx", "a=b": "a=b", "'=x": "'=x",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

var renderAttrURL = regexp.MustCompile(`(?i)\s(href|src|xlink:href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)

func TestRenderHTML(t *testing.T) {
	r := renderFixture()
	out := renderString(t, "html", r)

	// The whole document is well-formed XML, so the SVG in it is too.
	if err := xmlWellFormed(out); err != nil {
		t.Errorf("the HTML report is not well-formed: %v", err)
	}
	start, end := strings.Index(out, "<svg"), strings.Index(out, "</svg>")
	if start < 0 || end < start {
		t.Fatal("the HTML report has no <svg> chart")
	}
	svg := out[start : end+len("</svg>")]
	if err := xmlWellFormed(svg); err != nil {
		t.Errorf("the SVG chart is not well-formed XML: %v\n%s", err, svg)
	}
	kinds := map[string]bool{}
	for _, c := range r.Credentials {
		kinds[c.Kind] = true
	}
	if n := strings.Count(svg, `<g class="bar">`); n != len(kinds) {
		t.Errorf("the chart has %d bars, want one per kind (%d)", n, len(kinds))
	}
	for k := range kinds {
		if !strings.Contains(svg, ">"+shorten(kindLabel(k), chartLabelChars)+"</text>") {
			t.Errorf("the chart has no text label for %s", k)
		}
	}
	for _, want := range []string{"<title", "<desc", `class="legend"`, `role="img"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %s", want)
		}
	}

	if strings.Contains(strings.ToLower(out), "<script") {
		t.Error("the HTML report has a <script> element: data went out unescaped")
	}
	if !strings.Contains(out, "&lt;script&gt;") {
		t.Error("the HTML report does not show the escaped <script> of the data")
	}
	if strings.Contains(out, `="javascript:`) {
		t.Error("the HTML report has a javascript: URL")
	}
	allowed := []string{r.GitLabURL}
	for _, p := range r.Projects {
		if httpURL(p.WebURL) != "" {
			allowed = append(allowed, p.WebURL)
		}
	}
	links := 0
	for _, m := range renderAttrURL.FindAllStringSubmatch(out, -1) {
		attr, u := strings.ToLower(m[1]), m[2]
		if attr != "href" {
			t.Errorf("the HTML report loads %s=%q", attr, u)
			continue
		}
		if strings.HasPrefix(u, "#") {
			continue
		}
		if !slices.Contains(allowed, u) {
			t.Errorf("the HTML report links %q, neither the GitLab URL nor a project's", u)
		}
		links++
	}
	if links == 0 {
		t.Error("the HTML report has no link to GitLab")
	}
	if strings.Contains(out, "url(") || strings.Contains(out, "@import") {
		t.Error("the HTML report's CSS loads a resource")
	}
	for _, want := range []string{"<h2>Credentials</h2>", "<h2>Projects that could not be read</h2>", "<h2>Lint findings per project</h2>", "<style>"} {
		if !strings.Contains(out, want) {
			t.Errorf("the HTML report lacks %s", want)
		}
	}

	empty := renderString(t, "html", renderEmptyFixture())
	if err := xmlWellFormed(empty); err != nil {
		t.Errorf("the HTML of an empty report is not well-formed: %v", err)
	}
	if !strings.Contains(empty, noCredentials) {
		t.Errorf("the HTML of an empty report does not say %q", noCredentials)
	}
}

// xmlWellFormed reports whether s is well-formed XML (HTML's void elements
// written as <meta />).
func xmlWellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestRenderMarkdown checks the markdown's escaping: every table row has
// as many unescaped | as its header, and outside code blocks no < or
// backtick comes from data.
func TestRenderMarkdown(t *testing.T) {
	out := renderString(t, "markdown", renderFixture())
	if !strings.HasPrefix(out, "# Long-lived credentials in group acme\n\nGenerated 2025-03-04 09:30 UTC by keyless 1.4.0 from [https://gitlab.example.com](https://gitlab.example.com).") {
		t.Errorf("title and date line:\n%.200s", out)
	}
	cols := 0
	fence := ""
	for i, line := range strings.Split(out, "\n") {
		if fence != "" {
			if line == fence {
				fence = ""
			}
			continue
		}
		if m := regexp.MustCompile("^(```+)").FindString(line); m != "" {
			fence = m
			continue
		}
		if !strings.HasPrefix(line, "|") {
			cols = 0
			for _, tag := range []string{"<details>", "<summary>", "</summary>", "</details>"} {
				line = strings.ReplaceAll(line, tag, "")
			}
			if strings.Contains(line, "<") || strings.Contains(line, "`") && !strings.Contains(line, "keyless report merge") {
				if unescapedCount(line, '<') > 0 || unescapedCount(line, '`') > 0 {
					t.Errorf("line %d has an unescaped < or `: %s", i+1, line)
				}
			}
			continue
		}
		n := unescapedCount(line, '|')
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("line %d has %d cell separators, its table %d: %s", i+1, n, cols, line)
		}
		if unescapedCount(line, '`') > 0 {
			t.Errorf("line %d has an unescaped backtick in a table: %s", i+1, line)
		}
	}
	for _, want := range []string{`deploy \| prod`, `\<script\>alert(1)\</script\>`, "\n```yaml\n", "\n````yaml\n", "\n```json\n", "\n```hcl\n", "\n```text\n",
		"### AWS_ACCESS_KEY_ID (instance, scope \\*)", `\@all \#1 \~label`, "| [acme/app](https://gitlab.example.com/acme/app) |", "3. \\- then delete", "2. 1\\. Revoke"} {
		if !strings.Contains(out, want) {
			t.Errorf("the markdown lacks %q", want)
		}
	}
	// Most exposed first: the instance credential, then group ones.
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "### ") {
			order = append(order, line)
		}
	}
	if len(order) != 12 || !strings.Contains(order[0], "(instance,") || !strings.Contains(order[1], "(group ") || !strings.Contains(order[11], "(project ") {
		t.Errorf("credential sections are not most exposed first:\n%s", strings.Join(order, "\n"))
	}

	empty := renderString(t, "markdown", renderEmptyFixture())
	if !strings.Contains(empty, "## Credentials\n\n"+noCredentials+".") {
		t.Errorf("the markdown of an empty report does not say %q:\n%s", noCredentials, empty)
	}
}

// unescaped counts c in s not preceded by an odd number of backslashes.
func unescapedCount(s string, c byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			continue
		}
		bs := 0
		for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			n++
		}
	}
	return n
}

func TestRenderMarkdownText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"a|b":              `a\|b`,
		"`x`":              "\\`x\\`",
		"<b>&amp;":         `\<b\>\&amp;`,
		"line\nbreak\r\n!": `line break  \!`,
		"- item":           `\- item`,
		"12. x":            `12\. x`,
		"v1.2":             "v1.2",
		"@user #1 ~l %m":   `\@user \#1 \~l \%m`,
		"ünï ☕":            "ünï ☕",
		"AWS_SECRET_KEY":   "AWS_SECRET_KEY",
		"_x_ a__b_ é_1":    `\_x\_ a__b\_ é_1`,
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mdURL("javascript:alert(1)"); got != "" {
		t.Errorf("mdURL(javascript:) = %q, want none", got)
	}
	if got := mdURL("https://gitlab.example.com/a b/(c)|d"); got != "https://gitlab.example.com/a%20b/%28c%29%7Cd" {
		t.Errorf("mdURL = %q", got)
	}
	if got := mdFence("a ```` b", "text"); !strings.HasPrefix(got, "`````text\n") {
		t.Errorf("mdFence does not outrun the backticks in the code: %q", got)
	}
}

// TestRenderMarkdownLimit checks that a report over the limit keeps the
// most exposed credentials, says how many are left out, and fits.
func TestRenderMarkdownLimit(t *testing.T) {
	r := renderFixture()
	full := renderString(t, "markdown", r)
	for _, limit := range []int{utf8.RuneCountInString(full) / 2, 9000} {
		var b bytes.Buffer
		if err := (markdownRenderer{maxChars: limit}).Render(&b, r); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if n := utf8.RuneCountInString(out); n > limit {
			t.Errorf("limit %d: the markdown has %d characters", limit, n)
		}
		if !strings.Contains(out, "more credentials are not shown") || !strings.Contains(out, "full report is in the job's artifact") {
			t.Errorf("limit %d: no note that credentials are left out:\n%s", limit, out)
		}
		if !strings.Contains(out, "### AWS_ACCESS_KEY_ID (instance, scope \\*)") {
			t.Errorf("limit %d: the most exposed credential is left out", limit)
		}
		if !strings.HasPrefix(full, out[:strings.Index(out, "## Credentials")]) {
			t.Errorf("limit %d: the summary changed", limit)
		}
		for _, h := range []string{"## Projects that could not be read", "## Lint findings per project"} {
			if !strings.Contains(out, h) {
				t.Errorf("limit %d: %s is missing", limit, h)
			}
		}
	}
	// At GitLab's limit: a report of thousands of credentials fits.
	big := renderFixture()
	long := strings.Repeat("a trust line of some length ☕\n", 40)
	for i := 0; i < 2000; i++ {
		c := r.Credentials[i%len(r.Credentials)]
		c.ID = fmt.Sprintf("%s#%d", c.ID, i)
		c.Replacement.Trust = long
		big.Credentials = append(big.Credentials, c)
	}
	out := renderString(t, "markdown", big)
	if n := utf8.RuneCountInString(out); n > issueDescriptionLimit || n < issueDescriptionLimit*9/10 {
		t.Errorf("the markdown of %d credentials has %d characters, want just under %d", len(big.Credentials), n, issueDescriptionLimit)
	}
	if !strings.Contains(out, "more credentials are not shown") {
		t.Errorf("the markdown of %d credentials does not say some are left out", len(big.Credentials))
	}

	if got := renderString(t, "markdown", r); got != full || strings.Contains(full, "not shown") {
		t.Error("the markdown of the fixture is truncated under GitLab's limit")
	}
}
