package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// applyFlag reads a flag's environment fallbacks from Env as urfave/cli
// reads them from the process: the same value, IsSet and error, for each
// type keyless uses, with the first variable found winning even when it is
// empty, and the command line winning over both. Not parallel: urfave/cli's
// side of the comparison needs the process's environment.
func TestFlagFallbacksAreReadAsUrfaveReadsThem(t *testing.T) {
	const a, b = "KEYLESS_TEST_FALLBACK_A", "KEYLESS_TEST_FALLBACK_B"
	envs := []string{a, b}
	flags := map[string]func() cli.Flag{
		"string":   func() cli.Flag { return &cli.StringFlag{Name: "f", Value: "default", EnvVars: envs} },
		"bool":     func() cli.Flag { return &cli.BoolFlag{Name: "f", Aliases: []string{"g"}, EnvVars: envs} },
		"duration": func() cli.Flag { return &cli.DurationFlag{Name: "f", Value: time.Minute, EnvVars: envs} },
		"int":      func() cli.Flag { return &cli.IntFlag{Name: "f", Value: 8, EnvVars: envs} },
		"float64":  func() cli.Flag { return &cli.Float64Flag{Name: "f", Value: 10, EnvVars: envs} },
		"slice":    func() cli.Flag { return &cli.StringSliceFlag{Name: "f", EnvVars: envs} },
	}
	values := []map[string]string{
		{},
		{a: "7"},
		{b: "1s"},
		{a: "", b: "true"},
		{a: "true", b: "x"},
		{a: "maybe"},
		{a: "2s"},
		{a: "1.5"},
		{a: " x , y ,", b: "z"},
	}
	for kind, newFlag := range flags {
		for _, vars := range values {
			for _, args := range [][]string{nil, {"--f=3"}} {
				name := fmt.Sprintf("%s %v %v", kind, vars, args)
				// urfave/cli, from the process.
				for _, e := range envs {
					t.Setenv(e, "")
					os.Unsetenv(e)
				}
				for k, v := range vars {
					t.Setenv(k, v)
				}
				want := newFlag()
				wantSet := flag.NewFlagSet("want", flag.ContinueOnError)
				wantSet.SetOutput(io.Discard)
				wantErr := want.Apply(wantSet)
				// keyless, from Env alone.
				for _, e := range envs {
					os.Unsetenv(e)
				}
				got := newFlag()
				gotSet := flag.NewFlagSet("got", flag.ContinueOnError)
				gotSet.SetOutput(io.Discard)
				gotErr := applyFlag(got, gotSet, func(k string) (string, bool) {
					v, ok := vars[k]
					return v, ok
				})
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Errorf("%s: error %v, want %v", name, gotErr, wantErr)
					continue
				}
				if wantErr != nil {
					continue
				}
				wantSet.Parse(args)
				gotSet.Parse(args)
				for _, n := range want.Names() {
					if g, w := gotSet.Lookup(n).Value.String(), wantSet.Lookup(n).Value.String(); g != w {
						t.Errorf("%s: --%s is %q, want %q", name, n, g, w)
					}
				}
				if got.IsSet() != want.IsSet() {
					t.Errorf("%s: IsSet %v, want %v", name, got.IsSet(), want.IsSet())
				}
				if g, w := got.String(), want.String(); g != w {
					t.Errorf("%s: help shows %q, want %q", name, g, w)
				}
			}
		}
	}
}

// keyless reads no variable of the process: a job's configuration in the
// process's environment and none in Env is no configuration. Not parallel:
// it sets the process's environment.
func TestTheProcessEnvironmentIsNotRead(t *testing.T) {
	t.Setenv("KEYLESS_AWS_ROLE_ARN", role)
	t.Setenv("KEYLESS_AWS_REFRESHABLE", "maybe") // a fallback urfave/cli would fail on
	t.Setenv("KEYLESS_ID_TOKEN", "not-a-jwt")
	o := keyless(t, nil, "env")
	if o.Code != ExitUsage || !strings.Contains(o.Stderr, "no provider is configured") {
		t.Errorf("exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, nil, "aws", "--role-arn", role)
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "$KEYLESS_ID_TOKEN is not set") {
		t.Errorf("exit %d\n%s", o.Code, o.Stderr)
	}
}
