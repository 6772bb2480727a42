package lint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// leaksOf runs the leak analysis over one job's configuration and
// returns each leak as "sink what NAME,NAME file".
func leaksOf(t *testing.T, job string) []string {
	t.Helper()
	p := pipeline.Parse(".", ".gitlab-ci.yml", []byte("job:\n"+job), pipeline.Options{})
	infos := jobInfos(p)
	if len(infos) != 1 {
		t.Fatalf("%d jobs in %q", len(infos), job)
	}
	var out []string
	for _, lk := range analyzeLeaks(infos[0], newReadCache()).leaks {
		var names []string
		for _, h := range lk.secrets {
			names = append(names, h.name)
		}
		s := fmt.Sprintf("%s %s %s", [...]string{"", "log", "artifact", "cache", "dotenv"}[lk.sink], lk.what, strings.Join(names, ","))
		if lk.file != "" {
			s += " " + lk.file
		}
		out = append(out, s)
	}
	return out
}

// TestLeaks: where each kind of command sends a secret (issue 15).
func TestLeaks(t *testing.T) {
	for _, c := range []struct {
		name, job string
		want      []string
	}{
		{"echo", `  script: ['echo "$API_TOKEN"']`, []string{"log echo API_TOKEN"}},
		{"echo to stderr", `  script: ['echo "$API_TOKEN" >&2']`, []string{"log echo API_TOKEN"}},
		{"single quotes", `  script: ["echo '$API_TOKEN'"]`, nil},
		{"length and tests", `  script: ['echo ${#API_TOKEN} ${API_TOKEN:+set} ${API_TOKEN:0:4}']`, nil},
		{"default value", `  script: ['echo ${API_TOKEN:-unset}']`, []string{"log echo API_TOKEN"}},
		{"to a command", `  script: ['echo "$API_TOKEN" | docker login --password-stdin r.example.com']`, nil},
		{"encoded", `  script: ['echo "$API_TOKEN" | base64']`, []string{"log echo API_TOKEN"}},
		{"part", `  script: ['echo "$API_TOKEN" | cut -c1-4', 'echo "$API_TOKEN" | sha256sum']`, nil},
		{"null", `  script: ['echo "$API_TOKEN" > /dev/null 2>&1']`, nil},
		{"captured", `  script: ['X=$(echo "$API_TOKEN")', 'echo "$X"']`, []string{"log echo API_TOKEN"}},
		{"new value", `  script: ['BODY=$(curl -H "PRIVATE-TOKEN: $API_TOKEN" https://gitlab.example.com/api/v4/user)', 'echo "$BODY"']`, nil},
		{"made at run time", `  script: ['export VAULT_TOKEN="$(vault write -field=token auth/jwt/login role=ci jwt=$ID)"', 'echo $VAULT_TOKEN']`, []string{"log echo VAULT_TOKEN"}},
		{"set from a secret", `  script: ['export AWS_SECRET_ACCESS_KEY=$AMI_KEY', 'echo $AWS_SECRET_ACCESS_KEY']`, []string{"log echo AMI_KEY"}},
		{"set to a literal", `  script: ['API_TOKEN=placeholder', 'echo $API_TOKEN']`, nil},
		{"placeholder variable", "  variables: {DB_PASSWORD: postgres}\n  script: ['echo $DB_PASSWORD']", nil},
		{"reference variable", "  variables: {DB_PASSWORD: 'vault:kv/data/db#password'}\n  script: ['echo $DB_PASSWORD']", nil},
		{"from a stored variable", "  variables: {DB_PASSWORD: $PROD_DB}\n  script: ['echo $DB_PASSWORD']", []string{"log echo PROD_DB"}},
		{"predefined", `  script: ['echo $CI_JOB_TOKEN $CI_REGISTRY_PASSWORD $GITLAB_USER_LOGIN']`, nil},
		{"deploy token", `  script: ['echo $CI_DEPLOY_PASSWORD $GITLAB_TOKEN']`, []string{"log echo CI_DEPLOY_PASSWORD,GITLAB_TOKEN"}},
		{"heredoc", "  script:\n    - |\n      cat <<EOF\n      $API_TOKEN\n      EOF", []string{"log cat API_TOKEN"}},
		{"quoted heredoc", "  script:\n    - |\n      cat <<'EOF'\n      $API_TOKEN\n      EOF", nil},
		{"heredoc to a command", "  script:\n    - |\n      kubectl apply -f - <<EOF\n      token: $API_TOKEN\n      EOF", nil},
		{"here-string", `  script: ['cat <<< "$API_TOKEN"']`, []string{"log cat API_TOKEN"}},
		{"cat of a file", `  script: ['echo $API_TOKEN > /tmp/t', 'cat /tmp/t']`, []string{"log cat API_TOKEN"}},
		{"cat of an overwritten file", `  script: ['echo $API_TOKEN > /tmp/t', 'echo x > /tmp/t', 'cat /tmp/t']`, nil},
		{"env", "  variables: {TOKEN: $STORED}\n  script: [env]", []string{"log env STORED"}},
		{"env runs a command", "  script: ['env A=1 ./run.sh $API_TOKEN', 'env -i ./run.sh']", nil},
		{"env filtered", "  script: ['env | grep -i aws', 'env | grep TOKEN', 'env | cut -d= -f1', 'printenv PATH']\n  variables: {X: $API_TOKEN}", []string{"log env API_TOKEN"}},
		{"set and export -p", "  script: [set, export -p, 'declare -p', 'set -o']\n  variables: {X: $API_TOKEN}", []string{"log set API_TOKEN", "log export API_TOKEN", "log declare API_TOKEN"}},
		{"powershell", "  script: ['Get-ChildItem env:', 'Write-Output $env:API_TOKEN']", []string{"log Get-ChildItem API_TOKEN", "log Write-Output API_TOKEN"}},
		{"no secret in scope", `  script: [env]`, nil},
		{"keyless env", `  script: ['eval "$(keyless env)"', 'printenv']`, []string{"log printenv keyless env's credentials"}},
		{"keyless component", "  extends: .keyless-aws\n  script: [env]", []string{"log env keyless env's credentials"}},
		{"exported credentials", `  script: ['export $(printf "AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" $(aws sts assume-role --role-arn x --output text))', env]`, []string{"log env AWS_SECRET_ACCESS_KEY"}},
		{"secrets: file", "  secrets: {DB: {vault: a/b@c}}\n  script: ['echo $DB', 'cat \"$DB\"']", []string{"log cat DB"}},
		{"secrets: value", "  secrets: {DB: {vault: a/b@c, file: false}}\n  script: ['echo $DB']", []string{"log echo DB"}},
		{"id token", "  id_tokens: {T: {aud: x}}\n  script: ['echo $T', 'echo $T | cut -d. -f2 | base64 -d']", []string{"log echo T"}},

		{"artifact", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > out/t']", []string{"artifact echo API_TOKEN out/t"}},
		{"artifact append", "  artifacts: {paths: ['out/']}\n  script: ['echo $API_TOKEN >> ./out/t']", []string{"artifact echo API_TOKEN out/t"}},
		{"artifact project dir", "  artifacts: {paths: [out]}\n  script: ['echo $API_TOKEN > \"$CI_PROJECT_DIR/out/t\"']", []string{"artifact echo API_TOKEN out/t"}},
		{"artifact glob", "  artifacts: {paths: ['out/*.txt', '**/*.pem']}\n  script: ['echo $API_TOKEN > out/a.txt', 'echo $API_TOKEN > out/sub/a.txt', 'echo $API_TOKEN > a/b/c.pem']", []string{"artifact echo API_TOKEN out/a.txt", "artifact echo API_TOKEN a/b/c.pem"}},
		{"artifact excluded", "  artifacts: {paths: [out/], exclude: ['out/**/*.key']}\n  script: ['echo $API_TOKEN > out/a.key']", nil},
		{"artifact overwritten", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > out/a', './use out/a', 'echo done > out/a']", nil},
		{"artifact in a substitution", "  artifacts: {paths: [out/]}\n  script: ['X=$(echo $API_TOKEN | tee out/t)']", []string{"artifact tee API_TOKEN out/t"}},
		{"artifact removed", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > out/a', './use out/a', 'rm -rf out']", nil},
		{"artifact elsewhere", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > ~/t', 'echo $API_TOKEN > /tmp/t', 'echo $API_TOKEN > \"$F\"', 'echo $API_TOKEN > t']", nil},
		{"artifact after cd", "  artifacts: {paths: [build/]}\n  script: ['cd build', 'echo $API_TOKEN > t', 'cd ..', 'echo $API_TOKEN > u', 'cd /tmp', 'echo $API_TOKEN > v']", []string{"artifact echo API_TOKEN build/t"}},
		{"artifact untracked", "  artifacts: {untracked: true}\n  script: ['echo $API_TOKEN > .npmrc']", []string{"artifact echo API_TOKEN .npmrc"}},
		{"artifact tee", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN | tee -a out/t >/dev/null']", []string{"artifact tee API_TOKEN out/t"}},
		{"artifact cp", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > /tmp/t', 'cp /tmp/t out/']", []string{"artifact cp API_TOKEN out/t"}},
		{"artifact env dump", "  artifacts: {paths: [env.txt]}\n  variables: {X: $API_TOKEN}\n  script: ['env > env.txt']", []string{"artifact env API_TOKEN env.txt"}},
		{"artifact in after_script", "  artifacts: {paths: [out/]}\n  script: ['echo $API_TOKEN > /tmp/t']\n  after_script: ['cp /tmp/t out/t']", []string{"artifact cp API_TOKEN out/t"}},
		{"artifact variable path", "  variables: {OUT: dist}\n  artifacts: {paths: [$OUT/]}\n  script: ['echo $API_TOKEN > $OUT/t']", []string{"artifact echo API_TOKEN dist/t"}},
		{"report", "  artifacts: {reports: {junit: report.xml}}\n  script: ['echo \"<x>$API_TOKEN</x>\" > report.xml']", []string{"artifact echo API_TOKEN report.xml"}},
		{"cache", "  cache: {paths: [.cache/]}\n  script: ['echo $API_TOKEN > .cache/t']", []string{"cache echo API_TOKEN .cache/t"}},
		{"dotenv", "  artifacts: {paths: [b.env], reports: {dotenv: b.env}}\n  script: ['echo \"T=$API_TOKEN\" > b.env']", []string{"dotenv echo API_TOKEN b.env"}},
		{"dotenv no secret", "  artifacts: {reports: {dotenv: b.env}}\n  script: ['echo \"V=$(git describe)\" > b.env']", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, leaksOf(t, c.job)); d != "" {
				t.Errorf("%s (-want +got):\n%s", c.job, d)
			}
		})
	}
}

func TestExpandedRefs(t *testing.T) {
	for s, want := range map[string]string{
		`echo "$A" ${B} '$C' \$D $env:E %F%`:       "A B E F",
		`echo ${#A} ${A:+x} ${A:0:4} ${A%x} ${!A}`: "",
		`echo ${A:-x} ${B=y} $(echo $C) ` + "`$D`": "A B",
		`echo "it's $A"`:                           "A",
	} {
		if got := strings.Join(expandedRefs(s, false, false), " "); got != want {
			t.Errorf("expandedRefs(%q) = %q, want %q", s, got, want)
		}
	}
	if got := strings.Join(expandedRefs(`x $(echo $C) '$D'`, true, false), " "); got != "C" {
		t.Errorf("expandedRefs with substitutions = %q", got)
	}
	if got := strings.Join(expandedRefs(`password '$D'`, false, true), " "); got != "D" {
		t.Errorf("expandedRefs in a here-document = %q", got)
	}
}

func TestParseCommand(t *testing.T) {
	for _, c := range []struct {
		raw, name, args string
		dest            int
		target          string
	}{
		{`echo "a b" > out/t`, "echo", "a b", toFile, "out/t"},
		{`echo x >>"out file"`, "echo", "x", toFile, "out file"},
		{`echo x 2>/dev/null`, "echo", "x", toPipe, ""},
		{`echo x > f 2>&1`, "echo", "x", toFile, "f"},
		{`echo x 1>&2`, "echo", "x", toLog, ""},
		{`A=1 sudo -E /usr/bin/env X=2 ./run.sh --flag`, "run.sh", "--flag", toPipe, ""},
		{`then echo '>' x`, "echo", "> x", toPipe, ""},
		{`cat <<EOF > f`, "cat", "", toFile, "f"},
		{`"C:\tools\keyless.exe" env`, "keyless", "env", toPipe, ""},
	} {
		cmd := parseCommand(c.raw)
		dest, target := cmd.stdout()
		if cmd.name != c.name || strings.Join(cmd.args, " ") != c.args || dest != c.dest || target != c.target {
			t.Errorf("parseCommand(%q) = %q %q -> %d %q; want %q %q -> %d %q", c.raw, cmd.name, cmd.args, dest, target, c.name, c.args, c.dest, c.target)
		}
	}
}

func TestShellSteps(t *testing.T) {
	got := shellSteps("echo a && \\\n  echo b\ncat <<-'EOF' > f\n  $X\n  EOF\necho $((1 << 2))\necho c")
	want := []shellStep{
		{text: "echo a &&    echo b"},
		{text: "cat <<-'EOF' > f", body: "  $X", delim: "EOF"},
		{text: "echo $((1 << 2))"},
		{text: "echo c"},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(shellStep{})); d != "" {
		t.Errorf("shellSteps (-want +got):\n%s", d)
	}
}

func TestKeptByPath(t *testing.T) {
	for _, c := range []struct {
		pat, file string
		want      bool
	}{
		{"out", "out/a/b", true},
		{"out/*.txt", "out/a.txt", true},
		{"out/*.txt", "out/a/b.txt", false},
		{"out/**/*.txt", "out/a.txt", true},
		{"out/**/*.txt", "out/a/b/c.txt", true},
		{"build*", "build-1/x", true},
		{".", "anything", true},
		{"*.env", "a/b.env", false},
		{"outer", "out/a", false},
	} {
		if got := keptByPath(c.pat, c.file); got != c.want {
			t.Errorf("keptByPath(%q, %q) = %v", c.pat, c.file, got)
		}
	}
	if globMatch("dist/**/*.key", "dist/a/b.key/c") {
		t.Error("exclude patterns match files, not directories")
	}
}

// FuzzLeaks: any script line is read without a panic, and every leak has
// a line to report it at.
func FuzzLeaks(f *testing.F) {
	for _, s := range []string{
		`echo "$API_TOKEN" | base64 > out/t`, "cat <<EOF\n$X\nEOF", `X=$(echo $T | tee out/a)`,
		`env | grep -i aws`, `cd build && cp /tmp/t ../out/`, "echo `echo $T` ${T:-x} %T%", `export $(printf "A_TOKEN=%s" x)`,
		`a=${b:+$(c "$(d)")} >& 2 <<< "$T" 2>&1 |& tee -a f`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := pipeline.Parse(".", ".gitlab-ci.yml", []byte("job:\n  artifacts: {paths: [out/], reports: {dotenv: b.env}}\n  id_tokens: {T: {aud: x}}\n  script: [x]\n"), pipeline.Options{})
		infos := jobInfos(p)
		infos[0].job.Node.Get("script").Items[0].Value = line
		for _, lk := range analyzeLeaks(infos[0], newReadCache()).leaks {
			if lk.line == nil || len(lk.secrets) == 0 {
				t.Errorf("leak without a line or a secret: %+v", lk)
			}
		}
	})
}
