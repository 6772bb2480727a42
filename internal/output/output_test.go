package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fakeSecret stands for a secret written in the pipeline. It is not a
// real credential; no output may contain it, or any four characters of it.
const fakeSecret = "klsQZXJWVPKMRTNBHGFDSLCYQJWZX"

// fakeSecret2 is a second secret, on a line with another finding after it.
const fakeSecret2 = "klsZJQXWBVKMPRTYHGFDSNLCQZXV"

var ciYAML = strings.Join([]string{
	"variables:",                                      // 1
	"  AWS_ACCESS_KEY_ID: " + fakeSecret,              // 2: secret at col 22
	"  AWS_REGION: eu-west-1",                         // 3
	"  EXTRA: {TOKEN: " + fakeSecret2 + `, AUD: "*"}`, // 4: secret at col 18, oidc finding at col 62
	"",               // 5
	"deploy:",        // 6
	"  id_tokens:",   // 7
	"    AWS_TOKEN:", // 8
	`      aud: "*"`, // 9: col 12
	"  script:",      // 10
	"    - \"deploy\t--key $AWS_SECRET_ACCESS_KEY\" # \x1b[31mred", // 11: tab; $ at col 21
	"",
}, "\n")

// otherYAML has CRLF line ends and a long line.
var otherYAML = "build:\r\n" +
	"  script: echo " + strings.Repeat("x", 150) + " $DOCKER_AUTH_CONFIG " + strings.Repeat("y", 150) + "\r\n"

func fixtureRules() []lint.Meta {
	return []lint.Meta{
		{ID: "hardcoded-aws-key", Title: "AWS access key written in the pipeline", Description: "An AWS access key ID is written in the YAML. Use the keyless aws component instead.", Severity: lint.Critical, CWE: []string{"CWE-798"}, Group: "secret"},
		{ID: "stored-aws-credentials", Title: "Job uses stored AWS credentials", Description: "A job uses AWS keys stored as CI/CD variables.", Severity: lint.Major, CWE: []string{"CWE-798", "CWE-522"}, Group: "stored"},
		{ID: "id-token-aud-wildcard", Title: "ID token audience is a wildcard", Description: "An ID token's aud should name the one service that reads it.", Severity: lint.Minor, Group: "oidc"},
		{ID: "syntax", Title: "Configuration GitLab would refuse", Description: "The YAML does not parse.", Severity: lint.Major, Group: "syntax"},
		{ID: "include", Title: "Include not read", Severity: lint.Info, Group: "syntax"},
	}
}

func fixtureReport() *Report {
	files := map[string][]byte{
		".gitlab-ci.yml": []byte(ciYAML),
		"ci/other.yml":   []byte(otherYAML),
	}
	pos := func(file string, line, col int) pipeline.Pos { return pipeline.Pos{File: file, Line: line, Col: col} }
	return &Report{
		Tool:    "keyless",
		Version: "v0.0.0-test",
		Root:    ".",
		Rules:   fixtureRules(),
		Source:  func(path string) []byte { return files[path] },
		Findings: []lint.Finding{
			{Rule: "hardcoded-aws-key", Severity: lint.Critical, Confidence: lint.High, Message: `AWS access key AKIA… (20 chars) written in variables: AWS_ACCESS_KEY_ID; use the keyless aws component`, Pos: pos(".gitlab-ci.yml", 2, 22), Fingerprint: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Replacement: "aws"},
			{Rule: "hardcoded-aws-key", Severity: lint.Critical, Confidence: lint.Medium, Message: `secret written in variables: EXTRA.TOKEN; store nothing, use an ID token`, Pos: pos(".gitlab-ci.yml", 4, 18), Fingerprint: "1f1e2d3c4b5a69788796a5b4c3d2e1f0"},
			{Rule: "id-token-aud-wildcard", Severity: lint.Minor, Confidence: lint.High, Message: `aud "*" accepts any service; name the one audience`, Pos: pos(".gitlab-ci.yml", 4, 62), Fingerprint: "2f1e2d3c4b5a69788796a5b4c3d2e1f0"},
			{Rule: "id-token-aud-wildcard", Severity: lint.Minor, Confidence: lint.High, Message: `id_tokens: AWS_TOKEN has aud "*"; name the one audience`, Pos: pos(".gitlab-ci.yml", 9, 12), Fingerprint: "3f1e2d3c4b5a69788796a5b4c3d2e1f0"},
			{Rule: "stored-aws-credentials", Severity: lint.Major, Confidence: lint.High, Message: `job "deploy" uses $AWS_SECRET_ACCESS_KEY; use the keyless aws component`, Pos: pos(".gitlab-ci.yml", 11, 21), Fingerprint: "4f1e2d3c4b5a69788796a5b4c3d2e1f0", Replacement: "aws"},
			{Rule: "include", Severity: lint.Info, Confidence: lint.High, Message: `include: project "group/templates" is read only with --online`, Pos: pos("ci/includes.yml", 0, 0), Fingerprint: "5f1e2d3c4b5a69788796a5b4c3d2e1f0"},
			{Rule: "stored-docker-auth", Severity: lint.Blocker, Confidence: lint.Low, Message: `job "build" uses $DOCKER_AUTH_CONFIG; use a registry ID token`, Pos: pos("ci/other.yml", 2, 167), Fingerprint: "6f1e2d3c4b5a69788796a5b4c3d2e1f0"},
			{Rule: "syntax", Severity: lint.Major, Confidence: lint.High, Message: "mapping values are not allowed in this context", Pos: pos("ci/unread.yml", 3, 7), Fingerprint: "7f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		},
	}
}

// formatString formats r with the named format.
func formatString(t *testing.T, name string, color bool, r *Report) string {
	t.Helper()
	f, err := New(name, color)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.Format(&b, r); err != nil {
		t.Fatalf("%s: Format: %v", name, err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file  string
		name  string
		color bool
	}{
		{"text.golden", "text", false},
		{"text_color.golden", "text", true},
		{"json.golden", "json", false},
		{"sarif.golden", "sarif", false},
		{"codequality.golden", "codequality", false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := formatString(t, c.name, c.color, fixtureReport())
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/output -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs (-want +got; go test ./internal/output -update rewrites it):\n%s", path, diff)
			}
		})
	}
}

// TestNoSecret checks that no format shows a secret written on a
// finding's line, whole or in part.
func TestNoSecret(t *testing.T) {
	for _, name := range Names() {
		for _, color := range []bool{false, true} {
			out := formatString(t, name, color, fixtureReport())
			for _, s := range []string{fakeSecret, fakeSecret2} {
				for i := 0; i+4 <= len(s); i++ {
					if strings.Contains(out, s[i:i+4]) {
						t.Errorf("%s (color %v) shows %q, part of a secret:\n%s", name, color, s[i:i+4], out)
						break
					}
				}
			}
		}
	}
}

func TestNoEscapeWithoutColor(t *testing.T) {
	for _, name := range Names() {
		out := formatString(t, name, false, fixtureReport())
		if strings.ContainsRune(out, 0x1b) {
			t.Errorf("%s without color writes an ESC byte:\n%q", name, out)
		}
	}
}

func TestNew(t *testing.T) {
	for _, name := range Names() {
		if _, err := New(name, false); err != nil {
			t.Errorf("New(%q): %v", name, err)
		}
	}
	_, err := New("bogus", false)
	if err == nil {
		t.Fatal(`New("bogus") succeeded`)
	}
	for _, want := range []string{`"bogus"`, "text", "json", "sarif", "codequality"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(\"bogus\") error %q does not name %s", err, want)
		}
	}
	if diff := cmp.Diff([]string{"text", "json", "sarif", "codequality"}, Names()); diff != "" {
		t.Errorf("Names() (-want +got):\n%s", diff)
	}
}

func TestEmpty(t *testing.T) {
	empty := &Report{Tool: "keyless", Version: "v1", Rules: fixtureRules()}
	tests := map[string]string{
		"text":        "no findings\n",
		"codequality": "[]\n",
	}
	for name, want := range tests {
		if got := formatString(t, name, true, empty); got != want {
			t.Errorf("%s with no findings = %q, want %q", name, got, want)
		}
	}
	if out := formatString(t, "json", false, empty); !strings.Contains(out, `"findings": []`) {
		t.Errorf("json with no findings has no empty list:\n%s", out)
	}
	if out := formatString(t, "sarif", false, empty); !strings.Contains(out, `"results": []`) {
		t.Errorf("sarif with no findings has no empty results:\n%s", out)
	}
}

func TestJSON(t *testing.T) {
	r := fixtureReport()
	var got struct {
		Version int `json:"version"`
		Tool    struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"tool"`
		Findings []struct {
			Rule        string `json:"rule"`
			Severity    string `json:"severity"`
			Confidence  string `json:"confidence"`
			Message     string `json:"message"`
			Path        string `json:"path"`
			Line        int    `json:"line"`
			Column      int    `json:"column"`
			Fingerprint string `json:"fingerprint"`
			Help        string `json:"help"`
			Replacement string `json:"replacement"`
		} `json:"findings"`
		Summary struct {
			Total      int            `json:"total"`
			BySeverity map[string]int `json:"by_severity"`
		} `json:"summary"`
	}
	dec := json.NewDecoder(strings.NewReader(formatString(t, "json", false, r)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Tool.Name != "keyless" || got.Tool.Version != r.Version {
		t.Errorf("version %d, tool %+v", got.Version, got.Tool)
	}
	if len(got.Findings) != len(r.Findings) || got.Summary.Total != len(r.Findings) {
		t.Fatalf("%d findings, total %d; want %d", len(got.Findings), got.Summary.Total, len(r.Findings))
	}
	sum := 0
	for _, n := range got.Summary.BySeverity {
		sum += n
	}
	if sum != len(r.Findings) || len(got.Summary.BySeverity) != 5 {
		t.Errorf("by_severity %v does not list 5 severities adding up to %d", got.Summary.BySeverity, len(r.Findings))
	}
	for i, f := range r.Findings {
		g := got.Findings[i]
		if g.Rule != f.Rule || g.Severity != f.Severity.String() || g.Confidence != f.Confidence.String() ||
			g.Message != f.Message || g.Path != f.Pos.File || g.Line != f.Pos.Line || g.Column != f.Pos.Col ||
			g.Fingerprint != f.Fingerprint || g.Replacement != f.Replacement {
			t.Errorf("finding %d: got %+v from %+v", i, g, f)
		}
		if !strings.HasSuffix(g.Help, "#"+f.Rule) {
			t.Errorf("finding %d: help %q does not link the rule", i, g.Help)
		}
	}
}

func TestCodeQuality(t *testing.T) {
	r := fixtureReport()
	var issues []map[string]any
	if err := json.Unmarshal([]byte(formatString(t, "codequality", false, r)), &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != len(r.Findings) {
		t.Fatalf("%d issues, want %d", len(issues), len(r.Findings))
	}
	allowed := map[string]bool{"info": true, "minor": true, "major": true, "critical": true, "blocker": true}
	fingerprints := map[string]bool{}
	for i, is := range issues {
		for _, k := range []string{"description", "check_name", "fingerprint", "severity"} {
			if s, _ := is[k].(string); s == "" {
				t.Errorf("issue %d: %s missing or empty: %v", i, k, is)
			}
		}
		if !allowed[is["severity"].(string)] {
			t.Errorf("issue %d: severity %q not one of GitLab's", i, is["severity"])
		}
		fp := is["fingerprint"].(string)
		if fingerprints[fp] {
			t.Errorf("issue %d: fingerprint %s repeats", i, fp)
		}
		fingerprints[fp] = true
		loc, _ := is["location"].(map[string]any)
		path, _ := loc["path"].(string)
		lines, _ := loc["lines"].(map[string]any)
		begin, _ := lines["begin"].(float64)
		if path == "" || strings.HasPrefix(path, "/") || strings.HasPrefix(path, "./") || begin < 1 {
			t.Errorf("issue %d: location %v is not a relative path and a line", i, is["location"])
		}
		if is["check_name"] != r.Findings[i].Rule || is["description"] != r.Findings[i].Message {
			t.Errorf("issue %d: %v does not match finding %+v", i, is, r.Findings[i])
		}
	}

	// A finding without a fingerprint still gets one.
	bare := &Report{Findings: []lint.Finding{{Rule: "x", Severity: 0, Message: "m", Pos: pipeline.Pos{File: "a.yml"}}}}
	if err := json.Unmarshal([]byte(formatString(t, "codequality", false, bare)), &issues); err != nil {
		t.Fatal(err)
	}
	if issues[0]["fingerprint"] == "" || issues[0]["severity"] != "info" {
		t.Errorf("bare finding became %v", issues[0])
	}
}

// TestSARIF checks the output against what SARIF 2.1.0 requires
// (https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html) and
// what keyless promises in it.
func TestSARIF(t *testing.T) {
	r := fixtureReport()
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					Version        string `json:"version"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID               string `json:"id"`
						Name             string `json:"name"`
						ShortDescription *struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						FullDescription *struct {
							Text string `json:"text"`
						} `json:"fullDescription"`
						HelpURI              string `json:"helpUri"`
						DefaultConfiguration struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
						Properties struct {
							Tags             []string `json:"tags"`
							SecuritySeverity string   `json:"security-severity"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			ColumnKind string `json:"columnKind"`
			Results    []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   *struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	dec := json.NewDecoder(strings.NewReader(formatString(t, "sarif", false, r)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || log.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || len(log.Runs) != 1 {
		t.Fatalf("version %q, $schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "keyless" || d.Version != r.Version || d.InformationURI != "https://gitlab.com/keyless-ci/keyless" {
		t.Errorf("driver %q %q %q", d.Name, d.Version, d.InformationURI)
	}
	if run.ColumnKind != "unicodeCodePoints" {
		t.Errorf("columnKind %q", run.ColumnKind)
	}
	levels := map[string]bool{"none": true, "note": true, "warning": true, "error": true}
	ids := map[string]bool{}
	for i, rule := range d.Rules {
		if rule.ID == "" || ids[rule.ID] {
			t.Errorf("rule %d: id %q empty or repeated", i, rule.ID)
		}
		ids[rule.ID] = true
		if rule.ShortDescription == nil || rule.ShortDescription.Text == "" {
			t.Errorf("rule %s: no shortDescription.text", rule.ID)
		}
		if rule.FullDescription != nil && rule.FullDescription.Text == "" {
			t.Errorf("rule %s: fullDescription without text", rule.ID)
		}
		if !levels[rule.DefaultConfiguration.Level] || rule.HelpURI == "" || rule.Name == "" {
			t.Errorf("rule %s: level %q, helpUri %q, name %q", rule.ID, rule.DefaultConfiguration.Level, rule.HelpURI, rule.Name)
		}
	}
	// Every listed rule, then the one rule a finding used without Meta.
	if len(d.Rules) != len(r.Rules)+1 {
		t.Errorf("%d rules, want %d", len(d.Rules), len(r.Rules)+1)
	}
	aws := d.Rules[0]
	if diff := cmp.Diff([]string{"security", "secret", "external/cwe/cwe-798"}, aws.Properties.Tags); diff != "" {
		t.Errorf("hardcoded-aws-key tags (-want +got):\n%s", diff)
	}
	if aws.Name != "HardcodedAwsKey" || aws.Properties.SecuritySeverity != "9.5" || aws.DefaultConfiguration.Level != "error" {
		t.Errorf("hardcoded-aws-key: name %q, security-severity %q, level %q", aws.Name, aws.Properties.SecuritySeverity, aws.DefaultConfiguration.Level)
	}

	if len(run.Results) != len(r.Findings) {
		t.Fatalf("%d results, want %d", len(run.Results), len(r.Findings))
	}
	for i, res := range run.Results {
		f := r.Findings[i]
		if res.Message == nil || res.Message.Text != f.Message {
			t.Errorf("result %d: message %v", i, res.Message)
		}
		if res.RuleIndex == nil || *res.RuleIndex < 0 || *res.RuleIndex >= len(d.Rules) || d.Rules[*res.RuleIndex].ID != res.RuleID || res.RuleID != f.Rule {
			t.Errorf("result %d: ruleId %q, ruleIndex %v do not point at rule %s", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if !levels[res.Level] {
			t.Errorf("result %d: level %q", i, res.Level)
		}
		if got := res.PartialFingerprints["keyless/v1"]; got != f.Fingerprint {
			t.Errorf("result %d: partialFingerprints %v, want keyless/v1 %s", i, res.PartialFingerprints, f.Fingerprint)
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(res.Locations))
		}
		pl := res.Locations[0].PhysicalLocation
		if pl.ArtifactLocation.URI != f.Pos.File || pl.ArtifactLocation.URIBaseID != "%SRCROOT%" {
			t.Errorf("result %d: artifactLocation %+v", i, pl.ArtifactLocation)
		}
		switch {
		case f.Pos.Line == 0 && pl.Region != nil:
			t.Errorf("result %d: region %+v for a finding without a line", i, pl.Region)
		case f.Pos.Line > 0 && (pl.Region == nil || pl.Region.StartLine != f.Pos.Line || pl.Region.StartColumn != f.Pos.Col):
			t.Errorf("result %d: region %+v, want line %d col %d", i, pl.Region, f.Pos.Line, f.Pos.Col)
		}
	}
	wantLevels := []string{"error", "error", "note", "note", "warning", "note", "error", "warning"}
	for i, res := range run.Results {
		if res.Level != wantLevels[i] {
			t.Errorf("result %d (%s): level %q, want %q", i, r.Findings[i].Severity, res.Level, wantLevels[i])
		}
	}
}

func TestSARIFURI(t *testing.T) {
	for in, want := range map[string]string{
		".gitlab-ci.yml":   ".gitlab-ci.yml",
		"ci/a b.yml":       "ci/a%20b.yml",
		"./ci/x.yml":       "ci/x.yml",
		"ci/100%.yml":      "ci/100%25.yml",
		"dir/ü.yml":        "dir/%C3%BC.yml",
		"templates/x#.yml": "templates/x%23.yml",
	} {
		if got := sarifURI(in); got != want {
			t.Errorf("sarifURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPascalCase(t *testing.T) {
	for in, want := range map[string]string{
		"hardcoded-aws-key": "HardcodedAwsKey",
		"syntax":            "Syntax",
		"id-token-aud":      "IdTokenAud",
		"a--b":              "AB",
	} {
		if got := pascalCase(in); got != want {
			t.Errorf("pascalCase(%q) = %q, want %q", in, got, want)
		}
	}
}
