package main

// The aws catalog component (templates/aws.yml) run by a real GitLab CI
// interpreter: gitlab-ci-local runs the component's jobs with the shell
// executor against the test issuer and MinIO's STS. gitlab-ci-local does not
// mint id_tokens, so the tests play GitLab's part: they read each job's
// id_tokens from the expanded pipeline (--preview), mint a token with that
// audience and pass it to the job as the variable id_tokens names. Breaking the
// template's id_tokens, variables, before_script or install job fails them.
//
// The README test at the end needs no peers: it keeps the component's inputs
// table in step with the spec.

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	templatesDir = "../../templates"

	// The origin of every throwaway project. gitlab-ci-local 4.73.0 reads a
	// component from the working tree, not the network, when its path is the
	// origin's group/project and its ref is HEAD's SHA, and it derives
	// CI_SERVER_FQDN from the origin's host; so
	// $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA is this checkout's
	// templates/aws.yml.
	gclOrigin = "https://gitlab.com/keyless-ci/keyless.git"

	// gitlab-ci-local's directory name for the job keyless:install
	// (its safeDockerString encodes the ':'); its --shell-isolation runs the job
	// in .gitlab-ci-local/builds/<this>.
	gclInstallDir = "keylessOginstall"
)

// gclProject is a throwaway GitLab project that gitlab-ci-local runs.
type gclProject struct {
	Dir string
	// Home and Tmp are the HOME and TMPDIR of gitlab-ci-local and its
	// jobs: each test's own, so that it can look into them.
	Home, Tmp string
	bin       string // gitlab-ci-local
}

// newGCLProject commits every component (templates/) and ciYAML (the
// .gitlab-ci.yml) to a new repository whose origin is gclOrigin.
func newGCLProject(t *testing.T, p peers, ciYAML string) gclProject {
	t.Helper()
	bin := filepath.Join(p.Tools, "bin", "gitlab-ci-local")
	if p.Tools == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "keyless-tools", "bin", "gitlab-ci-local")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("gitlab-ci-local is missing at %s: run scripts/install-peers.sh", bin)
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is missing (gitlab-ci-local's --shell-isolation needs it): run scripts/install-peers.sh")
	}
	dir := t.TempDir()
	templates, err := filepath.Glob(filepath.Join(templatesDir, "*.yml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no components in %s: %v", templatesDir, err)
	}
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	for _, tmpl := range templates {
		b, err := os.ReadFile(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "templates", filepath.Base(tmpl)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ciYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "keyless e2e"},
		{"config", "user.email", "e2e@keyless.invalid"},
		{"remote", "add", "origin", gclOrigin},
		{"add", "-A"},
		{"commit", "-q", "-m", "pipeline under test"},
		// What a clone has; without it gitlab-ci-local warns on every run.
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	} {
		if r := run(t, nil, "git", append([]string{"-C", dir}, args...)...); r.Code != 0 {
			t.Fatalf("git %s: %s", strings.Join(args, " "), r.Stderr)
		}
	}
	return gclProject{Dir: dir, Home: t.TempDir(), Tmp: t.TempDir(), bin: bin}
}

// run runs gitlab-ci-local on the project with the shell executor, each job
// in its own copy of the project (so artifacts really travel), with PATH and
// the given variables.
func (g gclProject) run(t *testing.T, path string, vars map[string]string, args ...string) result {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, g.Dir) // gitlab-ci-local refuses an absolute --cwd
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"--cwd", rel, "--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source", "--no-color",
		"--ignore-predefined-vars", "CI_PROJECT_DIR"}
	for k, v := range vars {
		all = append(all, "--variable", k+"="+v)
	}
	return run(t, []string{"PATH=" + path, "HOME=" + g.Home, "TMPDIR=" + g.Tmp}, g.bin, append(all, args...)...)
}

// idTokens returns the id_tokens of job in the expanded pipeline: variable
// name to audience (comma-separated when it is a list).
func (g gclProject) idTokens(t *testing.T, job string) map[string]string {
	t.Helper()
	r := g.run(t, os.Getenv("PATH"), nil, "--preview")
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local --preview: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var pipeline map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(r.Stdout), &pipeline); err != nil {
		t.Fatalf("decode --preview: %v\n%s", err, r.Stdout)
	}
	var j struct {
		IDTokens map[string]struct {
			Aud any `yaml:"aud"`
		} `yaml:"id_tokens"`
	}
	if n, ok := pipeline[job]; !ok || n.Decode(&j) != nil {
		t.Fatalf("no job %s in the expanded pipeline:\n%s", job, r.Stdout)
	}
	toks := map[string]string{}
	for name, tok := range j.IDTokens {
		switch aud := tok.Aud.(type) {
		case string:
			toks[name] = aud
		case []any:
			var l []string
			for _, a := range aud {
				l = append(l, a.(string))
			}
			toks[name] = strings.Join(l, ",")
		}
	}
	if len(toks) == 0 {
		t.Fatalf("job %s has no id_tokens in the expanded pipeline:\n%s", job, r.Stdout)
	}
	return toks
}

// mintIDTokens does what GitLab does for job: one token per id_tokens entry,
// with its audience.
func (p peers) mintIDTokens(t *testing.T, g gclProject, job string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for name, aud := range g.idTokens(t, job) {
		vars[name] = p.mint(t, "aud="+aud)
	}
	return vars
}

// pathWithout is PATH less every directory that holds a keyless, so that a
// keyless installed on the developer's machine cannot stand in for the one
// the component provides.
func pathWithout() string {
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "keyless")); err == nil {
			continue
		}
		keep = append(keep, d)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// bucketName is unique per run, so that a rerun against the same MinIO
// does not fail with BucketAlreadyOwnedByYou.
func bucketName(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func expand(s string, kv ...string) string { return strings.NewReplacer(kv...).Replace(s) }

// assertNothingLeaks fails if a secret is in gitlab-ci-local's output or in
// any file it left in the project (logs, scripts, artifacts, build copies),
// or if the output carries keyless env's export lines.
func assertNothingLeaks(t *testing.T, r result, dir string, secrets map[string]string) {
	t.Helper()
	out := r.Stdout + r.Stderr
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty: the test could not learn it", what)
		}
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in gitlab-ci-local's output", what)
		}
	}
	if m := regexp.MustCompile(`(?m)(export |unset )?AWS_[A-Z_]+=\S`).FindString(out); m != "" {
		t.Errorf("an AWS variable's value is echoed in the job log: %q…", m)
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the %s is written to %s", what, path)
			}
		}
		return nil
	})
}

// readSpy reads what the job wrote to $KEYLESS_TEST_SPY: the secret key and
// session token it was given, so that the test can look for them.
func readSpy(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the job did not record its credentials: %v", err)
	}
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) != 2 {
		t.Fatalf("the job recorded %d lines, want 2", len(l))
	}
	return map[string]string{"secret access key": l[0], "session token": l[1]}
}

// The component's job setup with install: path: keyless on the image's PATH.
const gclPathPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: {{role}}
      sts_endpoint: {{sts}}
      install: path

use-aws:
  extends: .keyless-aws
  script:
    - printf '%s\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > "$KEYLESS_TEST_SPY"
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 mb s3://{{bucket}}
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 ls
`

func TestE2EGitLabCIComponentInstallPath(t *testing.T) {
	p := e2e(t)
	bucket := bucketName("keyless-gcl-path")
	g := newGCLProject(t, p, expand(gclPathPipeline, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL, "{{bucket}}", bucket))
	tokens := p.mintIDTokens(t, g, "use-aws")
	spy := filepath.Join(t.TempDir(), "spy")
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": spy}
	for name, tok := range tokens {
		vars[name] = tok
	}

	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "make_bucket: "+bucket) || !regexp.MustCompile(`(?m)^use-aws\s+> \S+ \S+ `+bucket+`$`).MatchString(r.Stdout) {
		t.Errorf("the job did not create and list %s:\n%s", bucket, r.Stdout)
	}
	if !strings.Contains(r.Stderr, "keyless: aws: assumed") {
		t.Errorf("keyless's summary line is missing from the job log:\n%s", r.Stderr)
	}
	secrets := readSpy(t, spy)
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
}

// The default, install: artifact. The shell executor ignores image:, so the
// test gives keyless:install alone a PATH with keyless on it, as the release
// image would; the other jobs' PATH has none, so they can run keyless only
// from the artifact.
//
// gitlab-ci-local 4.73.0 sets CI_PROJECT_DIR of a job that has image: to the
// container path /builds/<group>/<project> even with --force-shell-executor,
// while the job's shell runs in .gitlab-ci-local/builds/<job>; keyless:install
// would write to /builds on the host and hand on an empty artifact. The test
// gives that job its real directory.
const gclArtifactPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/aws@$CI_COMMIT_SHA
    inputs:
      role_arn: {{role}}
      sts_endpoint: {{sts}}

keyless:install:
  variables:
    PATH: {{imagepath}}
    CI_PROJECT_DIR: {{installdir}}

use-aws:
  extends: .keyless-aws
  script:
    - echo "keyless=$(command -v keyless) dir=$CI_PROJECT_DIR"
    - printf '%s\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > "$KEYLESS_TEST_SPY"
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 mb s3://{{bucket}}
    - /usr/bin/aws --endpoint-url "$KEYLESS_TEST_MINIO" s3 ls

with-needs:
  extends: .keyless-aws
  needs: [keyless:install]
  script:
    - echo "keyless=$(command -v keyless) dir=$CI_PROJECT_DIR"

without-needs:
  extends: .keyless-aws
  needs: []
  allow_failure: true
  script:
    - echo "unreachable, keyless ran without its artifact"
`

func TestE2EGitLabCIComponentInstallArtifact(t *testing.T) {
	p := e2e(t)
	bucket := bucketName("keyless-gcl-artifact")
	base := pathWithout()
	// The project directory is known only once it exists; the pipeline is
	// rewritten before the commit.
	g := newGCLProject(t, p, "")
	ci := expand(gclArtifactPipeline, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL, "{{bucket}}", bucket,
		"{{imagepath}}", filepath.Dir(p.Bin)+string(os.PathListSeparator)+base,
		"{{installdir}}", filepath.Join(g.Dir, ".gitlab-ci-local", "builds", gclInstallDir))
	if err := os.WriteFile(filepath.Join(g.Dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, "git", "-C", g.Dir, "commit", "-q", "-a", "-m", "pipeline under test"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	tokens := p.mintIDTokens(t, g, "use-aws")
	spy := filepath.Join(t.TempDir(), "spy")
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": spy}
	for name, tok := range tokens {
		vars[name] = tok
	}

	r := g.run(t, base, vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	out := r.Stdout + r.Stderr
	if _, err := os.Stat(filepath.Join(g.Dir, ".gitlab-ci-local", "builds", gclInstallDir)); err != nil {
		t.Fatalf("keyless:install did not run in .gitlab-ci-local/builds/%s (has gitlab-ci-local renamed it?): %v\n%s", gclInstallDir, err, out)
	}
	for _, want := range []string{`(?m)^keyless:install\s+> keyless `, `(?m)^keyless:install\s+exported artifacts`, `PASS\s+keyless:install`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("keyless:install: no %q in the output:\n%s", want, out)
		}
	}
	// Each job ran keyless from the artifact in its own directory.
	for _, job := range []string{"use-aws", "with-needs"} {
		m := regexp.MustCompile(`(?m)^` + job + `\s+> keyless=(\S*) dir=(\S+)$`).FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Errorf("%s did not report its keyless:\n%s", job, out)
			continue
		}
		if want := m[2] + "/.keyless/bin/keyless"; m[1] != want || m[2] == g.Dir {
			t.Errorf("%s ran keyless %q in %s, want %s from the artifact in its own copy of the project", job, m[1], m[2], want)
		}
	}
	if !strings.Contains(r.Stdout, "make_bucket: "+bucket) || !regexp.MustCompile(`(?m)^use-aws\s+> \S+ \S+ `+bucket+`$`).MatchString(r.Stdout) {
		t.Errorf("use-aws did not create and list %s:\n%s", bucket, r.Stdout)
	}
	// needs: [] downloads no artifact: the job fails with exit code 3 (allowed,
	// so WARN) and says what to add.
	if !regexp.MustCompile(`(?m)^without-needs\s+> keyless: the keyless binary is neither in \.keyless/bin \(install: artifact; if this job sets needs:, add keyless:install to it\)`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^without-needs\s+finished in .* WARN 3`).MatchString(out) || strings.Contains(out, "> unreachable") {
		t.Errorf("without-needs should fail (allowed) and name keyless:install:\n%s", out)
	}
	secrets := readSpy(t, spy)
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
}

func TestE2EGitLabCIComponentWrongAudienceFailsTheJob(t *testing.T) {
	p := e2e(t)
	bucket := bucketName("keyless-gcl-aud")
	g := newGCLProject(t, p, expand(gclPathPipeline, "{{role}}", p.RoleARN, "{{sts}}", p.MinioURL, "{{bucket}}", bucket))
	tok := p.mint(t, "aud=other")
	vars := map[string]string{"KEYLESS_TEST_MINIO": p.MinioURL, "KEYLESS_TEST_SPY": filepath.Join(t.TempDir(), "spy")}
	for name := range g.idTokens(t, "use-aws") {
		vars[name] = tok
	}
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	out := r.Stdout + r.Stderr
	if r.Code == 0 {
		t.Fatalf("gitlab-ci-local: exit 0 with a token for another audience\n%s", out)
	}
	for _, want := range []string{`ID token audience mismatch: the token's aud is "other", the exchange expects "` + p.Aud + `"`, "FAIL 3", "FAIL  use-aws"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "make_bucket") {
		t.Error("the job's script ran after keyless failed")
	}
	assertNothingLeaks(t, r, g.Dir, map[string]string{"ID token": tok})
}

// The example pipeline of every component (components/<name>/), with its
// includes pointed at this checkout, is valid for gitlab-ci-local, and every
// job that uses a component gets its id_tokens and before_script; a job
// with needs: lists keyless:install, as the READMEs say it must.
func TestE2EGitLabCIComponentExamplePipelines(t *testing.T) {
	p := e2e(t)
	examples, err := filepath.Glob("../../components/*/example.gitlab-ci.yml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, examplePath := range examples {
		name := filepath.Base(filepath.Dir(examplePath))
		t.Run(name, func(t *testing.T) { checkExamplePipeline(t, p, name, examplePath) })
	}
}

func checkExamplePipeline(t *testing.T, p peers, name, examplePath string) {
	ex, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	include := regexp.MustCompile(`(component: \$CI_SERVER_FQDN/keyless-ci/keyless/[a-z0-9-]+)@\S+`)
	if !regexp.MustCompile(`component: \$CI_SERVER_FQDN/keyless-ci/keyless/` + name + `@\S+`).Match(ex) {
		t.Fatalf("%s does not include $CI_SERVER_FQDN/keyless-ci/keyless/%s@VERSION", examplePath, name)
	}
	g := newGCLProject(t, p, include.ReplaceAllString(string(ex), "$1@$$CI_COMMIT_SHA"))
	r := g.run(t, os.Getenv("PATH"), nil, "--preview")
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local --preview: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	type job struct {
		IDTokens     map[string]any `yaml:"id_tokens"`
		BeforeScript []string       `yaml:"before_script"`
		Needs        []any          `yaml:"needs"`
		Script       []string       `yaml:"script"`
	}
	var pipeline map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(r.Stdout), &pipeline); err != nil {
		t.Fatal(err)
	}
	if name == "lint" || name == "report" {
		var j struct {
			Script    []string `yaml:"script"`
			Artifacts struct {
				Paths   []string `yaml:"paths"`
				Reports struct {
					CodeQuality any `yaml:"codequality"`
				} `yaml:"reports"`
			} `yaml:"artifacts"`
		}
		n, ok := pipeline["keyless-"+name]
		if !ok || n.Decode(&j) != nil || !strings.Contains(strings.Join(j.Script, "\n"), "keyless "+name) {
			t.Fatalf("%s: no job keyless-%s that runs keyless %s:\n%s", examplePath, name, name, r.Stdout)
		}
		if name == "lint" && j.Artifacts.Reports.CodeQuality == nil {
			t.Errorf("%s: keyless-lint publishes no codequality report", examplePath)
		}
		if name == "report" && len(j.Artifacts.Paths) == 0 {
			t.Errorf("%s: keyless-report keeps no artifact", examplePath)
		}
		return
	}
	users := 0
	for jobName, n := range pipeline {
		var j job
		if n.Kind != yaml.MappingNode || strings.HasPrefix(jobName, ".") || n.Decode(&j) != nil || j.Script == nil || jobName == "keyless:install" {
			continue
		}
		if j.IDTokens == nil {
			continue
		}
		users++
		if !strings.Contains(strings.Join(j.BeforeScript, "\n"), "keyless env") {
			t.Errorf("job %s has the component's id_tokens but not its before_script (a before_script of its own needs !reference [.keyless-%s, before_script])", jobName, name)
		}
		if j.Needs != nil {
			found := false
			for _, need := range j.Needs {
				switch v := need.(type) {
				case string:
					found = found || v == "keyless:install"
				case map[string]any:
					found = found || v["job"] == "keyless:install"
				}
			}
			if !found {
				t.Errorf("job %s sets needs: without keyless:install, so it gets no keyless binary", jobName)
			}
		}
	}
	if users == 0 {
		t.Errorf("no job in %s uses the component:\n%s", examplePath, r.Stdout)
	}
}

// leakWindow is how long a piece of a secret assertNoWindowLeaks looks for:
// a job log or file that holds any 8 characters of a token in a row holds
// part of it.
const leakWindow = 8

// assertNoWindowLeaks fails if any leakWindow characters of a secret appear
// in gitlab-ci-local's output or in any file under roots. A JWT's header is
// left out: every token the issuer mints starts with the same one.
func assertNoWindowLeaks(t *testing.T, r result, secrets map[string]string, roots ...string) {
	t.Helper()
	windows := map[string]string{}
	for what, s := range secrets {
		if parts := strings.Split(s, "."); len(parts) == 3 {
			s = parts[1] + "." + parts[2]
		}
		if len(s) < leakWindow {
			t.Fatalf("the %s is shorter than %d characters", what, leakWindow)
		}
		for i := 0; i+leakWindow <= len(s); i++ {
			windows[s[i:i+leakWindow]] = what
		}
	}
	scan := func(where string, b []byte) {
		for i := 0; i+leakWindow <= len(b); i++ {
			if what, ok := windows[string(b[i:i+leakWindow])]; ok {
				t.Errorf("%d characters of the %s appear in %s at byte %d", leakWindow, what, where, i)
				return
			}
		}
	}
	scan("gitlab-ci-local's stdout", []byte(r.Stdout))
	scan("gitlab-ci-local's stderr", []byte(r.Stderr))
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read %s: %v", path, err)
				return nil
			}
			scan(path, b)
			return nil
		})
	}
}
