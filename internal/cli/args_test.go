//go:build !keyless_slim

package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Flags go before or after arguments, for every command; -- ends the
// flags; a command that runs a command keeps that command's flags.
func TestInterspersed(t *testing.T) {
	t.Parallel()
	app := newApp(Env{Getenv: func(string) string { return "" }})
	for _, tc := range []struct{ in, want string }{
		{"lint . --format sarif", "lint --format sarif ."},
		{"lint --format sarif .", "lint --format sarif ."},
		{"lint a --fail-on never b --format=json c", "lint --fail-on never --format=json a b c"},
		{"lint -r . --format json", "lint -r --format json ."},
		{"lint . -r", "lint -r ."},
		{"lint . --help", "lint --help"},
		{"lint . -h --format json", "lint --help"},
		{"lint --format", "lint --format"},
		{"lint -- -odd-file", "lint -- -odd-file"},
		{"lint . -- --format", "lint -- . --format"},
		{"lint -", "lint -"},
		{"policy aws --project a/b --ref main", "policy aws --project a/b --ref main"},
		{"explain aws extra --token-file f", "explain aws --token-file f extra"},
		{"doctor --format json", "doctor --format json"},
		// A command's own flags stay with it: after --, and after its first word.
		{"aws --role-arn r -- aws s3 ls --recursive", "aws --role-arn r -- aws s3 ls --recursive"},
		{"aws --role-arn r aws s3 ls --recursive", "aws --role-arn r aws s3 ls --recursive"},
		{"exec -- terraform plan -input=false", "exec -- terraform plan -input=false"},
		{"exec terraform plan --quiet", "exec terraform plan --quiet"},
		{"unknown . --format x", "unknown . --format x"},
		{"--help", "--help"},
	} {
		args, err := interspersed(app, append([]string{"keyless"}, strings.Fields(tc.in)...))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := strings.Join(args[1:], " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// A flag that takes a value cannot end the line, after arguments as before.
func TestInterspersedFlagWithoutValue(t *testing.T) {
	app := newApp(Env{Getenv: func(string) string { return "" }})
	_, err := interspersed(app, []string{"keyless", "lint", ".", "--format"})
	if err == nil || err.Error() != "flag needs an argument: --format" {
		t.Errorf("err = %v", err)
	}
	if o := keyless(t, nil, "lint", ".", "--format"); o.Code != ExitUsage || !strings.Contains(o.Stderr, "flag needs an argument") {
		t.Errorf("lint . --format: exit %d\n%s", o.Code, o.Stderr)
	}
}

// The same lint, flags first or last: the same output and exit code.
func TestLintFlagsAfterPaths(t *testing.T) {
	dir := copyProject(t)
	for _, flags := range [][]string{
		{"--format", "sarif"},
		{"--fail-on", "never", "--format=json"},
		{"--rule", "hardcoded-aws-key"},
	} {
		first := keyless(t, nil, append(append([]string{"lint"}, flags...), dir)...)
		last := keyless(t, nil, append([]string{"lint", dir}, flags...)...)
		if first.Code == ExitUsage || first.Stdout == "" {
			t.Fatalf("lint %v %s: exit %d\n%s", flags, dir, first.Code, first.Stderr)
		}
		first.Home, first.TmpDir, last.Home, last.TmpDir = "", "", "", "" // each run's own
		if diff := cmp.Diff(first, last); diff != "" {
			t.Errorf("lint %s %v differs from lint %v %s (-first +last):\n%s", dir, flags, flags, dir, diff)
		}
	}
}
