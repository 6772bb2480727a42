package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestCommandNames(t *testing.T) {
	for line, want := range map[string]string{
		"aws s3 ls":                             "aws",
		"/usr/bin/aws s3 ls":                    "aws",
		"/usr/local/bin/aws s3 ls":              "aws",
		"./aws s3 ls":                           "aws",
		`C:\aws\aws.exe s3 ls`:                  "aws",
		"aws":                                   "aws",
		"cd x && aws sts get-caller-identity":   "cd aws",
		"echo laws and paws":                    "echo",
		"echo aws":                              "echo",
		"aws-vault exec x":                      "aws-vault",
		"AWS_PROFILE=x sudo -E aws s3 ls":       "aws",
		"if aws s3 ls; then vault kv get x; fi": "aws vault fi",
		`X="$(aws sts get-caller-identity)"`:    "aws",
		"echo `gcloud config list` | tee out":   "echo gcloud tee",
		`echo "a; aws"`:                         "echo",
		`echo 'a $(aws)'`:                       "echo",
		"export A=1":                            "export",
		"$TOOL run":                             "",
		"/usr/bin/env X=1 aws s3 ls":            "aws",
		"/usr/bin/sudo -E /usr/bin/aws s3 ls":   "aws",
		"terraform init \\\n  -upgrade":         "terraform",
		"npx --yes cdk deploy":                  "cdk",
		"poetry run python deploy.py":           "python",
		"bundle exec rake aws:ami:create":       "rake",
		"yarn install":                          "yarn",
	} {
		if got := strings.Join(CommandNames(line), " "); got != want {
			t.Errorf("CommandNames(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestVarRefs(t *testing.T) {
	for s, want := range map[string]string{
		"echo $A ${B} $env:C %D% $1 $$": "A B C D",
		"no refs":                       "",
		"${AWS_SECRET_ACCESS_KEY}x":     "AWS_SECRET_ACCESS_KEY",
	} {
		if got := strings.Join(VarRefs(s), " "); got != want {
			t.Errorf("VarRefs(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestJobViews(t *testing.T) {
	src := `
variables:
  GLOBAL: $FROM_GLOBAL
.base:
  before_script: [/usr/bin/aws sts get-caller-identity]
  extends: .missing
deploy:
  extends: .base
  image: {name: alpine}
  services: [docker:dind]
  id_tokens:
    AWS_ID_TOKEN: {aud: https://sts.amazonaws.com}
  variables: {A: $X}
  rules:
    - variables: {B: $Y}
  script:
    - [terraform apply]
  after_script: [echo $Z]
  hooks: {pre_get_sources_script: [git config x]}
  environment: {name: production}
alone:
  inherit: {variables: false}
  script: [echo $W]
.hidden:
  script: [aws s3 ls]
`
	p := Parse("", ".gitlab-ci.yml", []byte(src), Options{})
	views := p.JobViews()
	if len(views) != 2 {
		t.Fatalf("JobViews() = %d views, want 2", len(views))
	}
	d := views[0]
	var vars, cmds, lines []string
	for _, v := range d.Variables {
		vars = append(vars, v.Scope+":"+v.Name)
	}
	for _, c := range d.Commands {
		cmds = append(cmds, c.Name)
	}
	for _, l := range d.Lines {
		lines = append(lines, l.Value)
	}
	var refs []string
	for _, r := range []string{"FROM_GLOBAL", "X", "Y", "Z", "W"} {
		if d.Reads(r) {
			refs = append(refs, r)
		}
	}
	got := map[string][]string{
		"extends": d.Extends, "vars": vars, "commands": cmds, "lines": lines, "refs": refs,
		"env": {d.Environment}, "images": {d.Images[0].Value, d.Images[1].Value},
		"tokens": {d.IDTokens[0].Name, d.IDTokens[0].Aud[0].Value},
	}
	want := map[string][]string{
		"extends":  {".base", ".missing"},
		"vars":     {"global:GLOBAL", "job:A", "rules:B"},
		"commands": {"aws", "terraform", "echo", "git"},
		"lines":    {"/usr/bin/aws sts get-caller-identity", "terraform apply", "echo $Z", "git config x"},
		"refs":     {"FROM_GLOBAL", "X", "Y", "Z"},
		"env":      {"production"},
		"images":   {"alpine", "docker:dind"},
		"tokens":   {"AWS_ID_TOKEN", "https://sts.amazonaws.com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deploy's view (-want +got):\n%s", diff)
	}
	if d.Runs("aws") == nil || d.Runs("gcloud") != nil {
		t.Errorf("Runs: aws %v, gcloud %v", d.Runs("aws"), d.Runs("gcloud"))
	}
	if a := views[1]; len(a.Variables) != 0 || a.Reads("FROM_GLOBAL") || !a.Reads("W") {
		t.Errorf("alone: inherit:variables false not honoured: %+v", a.Variables)
	}
}

// TestContainerLines: entrypoints and service commands are lines of the
// job, read like its scripts (issue 15): a list is one command line, and
// a shell's -c script is the script.
func TestContainerLines(t *testing.T) {
	src := `default:
  image:
    name: amazon/aws-cli
    entrypoint: ["/usr/bin/env", "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}", "/bin/sh"]
deploy:
  services:
    - name: hashicorp/vault
      entrypoint:
        - /bin/sh
        - -ec
        - vault login "$VAULT_CI_TOKEN"
      command: [server, -dev]
    - docker:dind
    - name: postgres:16
      command: postgres
    - name: alpine
      entrypoint: [""]
  script: [./deploy.sh]
`
	p := Parse("", "ci.yml", []byte(src), Options{})
	v := p.JobViews()[0]
	var lines, cmds []string
	for _, l := range v.Lines {
		lines = append(lines, fmt.Sprintf("%s@%d:%d", l.Value, l.Pos.Line, l.Pos.Col))
	}
	for _, c := range v.Commands {
		cmds = append(cmds, c.Name)
	}
	want := []string{
		"./deploy.sh@18:12",
		"/usr/bin/env AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY} /bin/sh@4:18",
		`vault login "$VAULT_CI_TOKEN"@11:11`,
		"server -dev@12:17",
		"postgres@15:16",
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"deploy.sh", "sh", "vault", "server", "postgres"}, cmds); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
	if !v.Reads("AWS_SECRET_ACCESS_KEY") || !v.Reads("VAULT_CI_TOKEN") {
		t.Errorf("the entrypoints' variables are not read: %v", v.Refs)
	}
	// An offset of a joined line is placed in its argument.
	env := v.Lines[1]
	if got := p.At(env, strings.Index(env.Value, "AWS_SECRET")); got.Line != 4 || got.Col != 34 {
		t.Errorf("At(AWS_SECRET_ACCESS_KEY) = %d:%d, want 4:34, its argument", got.Line, got.Col)
	}
	if got := p.At(env, strings.Index(env.Value, "/bin/sh")); got.Line != 4 || got.Col != 84 {
		t.Errorf("At(/bin/sh) = %d:%d, want 4:84", got.Line, got.Col)
	}
}

// TestJobViewKeeps: what a job keeps (artifacts:, cache:) and its
// secrets:, as https://docs.gitlab.com/ci/yaml/ spells them.
func TestJobViewKeeps(t *testing.T) {
	src := `
build:
  script: [make]
  artifacts:
    paths: [dist/, "out/*.txt"]
    exclude: ["dist/**/*.map"]
    untracked: true
    public: false
    reports:
      dotenv: [build.env, more.env]
      junit: report.xml
  cache:
    - key: gems
      paths: [vendor/]
    - key: npm
      untracked: true
  secrets:
    DB_PASSWORD:
      vault: production/db/password@ops
    API_KEY:
      vault: production/api/key@ops
      file: false
`
	v := Parse("", ".gitlab-ci.yml", []byte(src), Options{}).JobViews()[0]
	var reports, secrets []string
	for _, r := range v.Artifacts.Reports {
		reports = append(reports, r.Type+":"+r.Path.Value)
	}
	for _, s := range v.Secrets {
		secrets = append(secrets, fmt.Sprintf("%s:%v", s.Name, s.File))
	}
	values := func(ns []*Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Value)
		}
		return out
	}
	got := map[string][]string{
		"paths": values(v.Artifacts.Paths), "exclude": values(v.Artifacts.Exclude),
		"untracked": {fmt.Sprint(v.Artifacts.Untracked)}, "access": {v.Artifacts.Access},
		"reports": reports, "cache": values(v.CachePaths), "secrets": secrets,
	}
	want := map[string][]string{
		"paths": {"dist/", "out/*.txt"}, "exclude": {"dist/**/*.map"},
		"untracked": {"true"}, "access": {"developer"},
		"reports": {"dotenv:build.env", "dotenv:more.env", "junit:report.xml"},
		"cache":   {"vendor/", "."}, "secrets": {"DB_PASSWORD:true", "API_KEY:false"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("build's view (-want +got):\n%s", d)
	}
}

// TestJobViewEnvMaps: the view says which stored variable a job passes to
// its tools under which name, in variables: and in its lines, and which
// commands get the job's own values (issue 16).
func TestJobViewEnvMaps(t *testing.T) {
	p := Parse("", ".gitlab-ci.yml", []byte(`variables:
  AWS_DEFAULT_REGION: eu-west-1
upload:
  variables:
    AWS_SESSION_TOKEN: ${S3_SESSION}
  script:
    - AWS_ACCESS_KEY_ID="$S3_UPLOAD_KEY" AWS_SECRET_ACCESS_KEY="$S3_UPLOAD_SECRET" aws s3 cp x s3://b/x
    - aws s3 ls
exported:
  before_script:
    - export ARM_CLIENT_SECRET=$SP_SECRET GOOGLE_CREDENTIALS='$NOT_EXPANDED'
    - VAULT_TOKEN=$OPS_VAULT_TOKEN
  script:
    - terraform apply; vault kv get x
  after_script:
    - terraform output
`), Options{})
	type mapping struct {
		Env, From string
		Inline    bool
	}
	got := map[string][]mapping{}
	envs := map[string][]string{}
	for _, v := range p.JobViews() {
		for _, m := range v.EnvMaps {
			got[v.Job.Name] = append(got[v.Job.Name], mapping{m.Env, m.From, m.Inline})
		}
		for _, c := range v.Commands {
			envs[v.Job.Name] = append(envs[v.Job.Name], c.Name+"["+strings.Join(c.Env, " ")+"]")
		}
	}
	want := map[string][]mapping{
		"upload": {
			{"AWS_DEFAULT_REGION", "", false},
			{"AWS_SESSION_TOKEN", "S3_SESSION", false},
			{"AWS_ACCESS_KEY_ID", "S3_UPLOAD_KEY", true},
			{"AWS_SECRET_ACCESS_KEY", "S3_UPLOAD_SECRET", true},
		},
		"exported": {
			{"AWS_DEFAULT_REGION", "", false},
			{"ARM_CLIENT_SECRET", "SP_SECRET", true},
			{"GOOGLE_CREDENTIALS", "", true},
			{"VAULT_TOKEN", "OPS_VAULT_TOKEN", true},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("EnvMaps (-want +got):\n%s", d)
	}
	wantEnvs := map[string][]string{
		"upload": {"aws[AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY]", "aws[]"},
		// after_script runs in a shell of its own.
		"exported": {"export[]", "terraform[ARM_CLIENT_SECRET GOOGLE_CREDENTIALS VAULT_TOKEN]", "vault[ARM_CLIENT_SECRET GOOGLE_CREDENTIALS VAULT_TOKEN]", "terraform[]"},
	}
	if d := cmp.Diff(wantEnvs, envs); d != "" {
		t.Errorf("Command.Env (-want +got):\n%s", d)
	}
}

// TestJobViewSharedVariables: jobs with no variables of their own share
// one Variables slice (issue 15); appending to one job's must not change
// what another's append gives.
func TestJobViewSharedVariables(t *testing.T) {
	p, err := LoadFS(Options{FS: fstest.MapFS{
		".gitlab-ci.yml": {Data: []byte("variables:\n  UP: up\nkick:\n  trigger:\n    include: child.yml\n")},
		"child.yml":      {Data: []byte("variables:\n  A: a\n  B: b\none:\n  script: [x]\ntwo:\n  script: [y]\nthree:\n  variables: {C: c}\n  script: [z]\n")},
	}})
	if err != nil || len(p.Children) != 1 {
		t.Fatalf("LoadFS: %v, %d child pipelines, want 1", err, len(p.Children))
	}
	views := p.Children[0].JobViews()
	if len(views) != 3 {
		t.Fatalf("%d views, want 3", len(views))
	}
	names := func(vs []Variable) string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return strings.Join(out, " ")
	}
	for i, want := range []string{"A B UP", "A B UP", "A B C UP"} {
		if got := names(views[i].Variables); got != want {
			t.Errorf("job %s sees %q, want %q", views[i].Job.Name, got, want)
		}
	}
	one := append(views[0].Variables, Variable{Name: "ONE"})
	_ = append(views[1].Variables, Variable{Name: "TWO"})
	if got := names(one); got != "A B UP ONE" {
		t.Errorf("appending to another job's variables changed this job's append: %q", got)
	}
}

// TestCommandSegments: the simple commands of a line, slices of it except
// where a backslash-newline is read as a space.
func TestCommandSegments(t *testing.T) {
	for line, want := range map[string][]string{
		"aws s3 ls":                          {"aws s3 ls"},
		"a; b | c && d":                      {"a", " b ", " c ", "", " d"},
		`X="$(aws sts get-caller-identity)"`: {`X="`, "aws sts get-caller-identity", `"`},
		"echo `gcloud config list` | tee":    {"echo ", "gcloud config list", " ", " tee"},
		`echo "a; aws" 'b | c'; d`:           {`echo "a; aws" 'b | c'`, " d"},
		"terraform init \\\n  -upgrade; x":   {"terraform init    -upgrade", " x"},
		"a \\\n b \\\n c":                    {"a   b   c"},
		"\\\nx":                              {" x"},
		`echo \; \"x\"; y`:                   {`echo \; \"x\"`, " y"},
		"x \\\n \\y; z":                      {`x   \y`, " z"},
		"":                                   {""},
	} {
		if d := cmp.Diff(want, commandSegments(line)); d != "" {
			t.Errorf("commandSegments(%q) (-want +got):\n%s", line, d)
		}
	}
}

// TestCommandArgs: a simple command's name and arguments, its words split
// as strings.Fields splits them (Unicode spaces too).
func TestCommandArgs(t *testing.T) {
	for seg, want := range map[string][]string{
		"aws s3 ls":                       {"aws", "s3", "ls"},
		"  aws\ts3\u00a0ls  ":             {"aws", "s3", "ls"},
		"aws\u2003s3\u0085'ls'":           {"aws", "s3", "ls"},
		"aws":                             {"aws"},
		"X=1 sudo -E /usr/bin/aws \"s3\"": {"aws", "s3"},
		"npx":                             {"npx"},
		"npx cdk deploy --all":            {"cdk", "deploy", "--all"},
		"poetry run":                      nil,
		"poetry run python x.py":          {"python", "x.py"},
		"poetry install":                  {"poetry", "install"},
		"env -i A=b \xff\xfe x":           {"\xff\xfe", "x"},
		"$TOOL run":                       nil,
		"A=1":                             nil,
		" \u00a0 ":                        nil,
	} {
		name, args := command(seg)
		var got []string
		if name != "" {
			got = append([]string{name}, args...)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("command(%q) (-want +got):\n%s", seg, d)
		}
	}
}
