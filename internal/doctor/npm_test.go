package doctor

import (
	"strings"
	"testing"
)

func TestNpmCase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		version  string
		idToken  bool
		provider bool
		status   Status
		detail   string
	}{
		{"new-npm", "11.5.1", true, false, OK, "exchanges NPM_ID_TOKEN by itself"},
		{"newer-npm-and-keyless", "11.19.1", false, true, OK, "keyless npm is needed only for pnpm"},
		{"old-npm", "10.9.2", true, false, Warn, "older than 11.5.1: it ignores NPM_ID_TOKEN"},
		{"old-npm-keyless", "10.9.2", true, true, OK, "keyless npm does"},
		{"prerelease", "11.5.1-pre.0", true, false, OK, "exchanges"},
		{"no-npm", "", true, false, Info, "npm is not on PATH"},
		{"no-npm-keyless", "", false, true, OK, "pnpm or yarn"},
		{"garbage", "eleven", true, false, Info, "no version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Getenv: func(k string) string {
				if k == "NPM_ID_TOKEN" && tc.idToken {
					return "x"
				}
				return ""
			}, NpmVersion: func() string { return tc.version }}
			if tc.provider {
				o.Providers = []Provider{{Name: "npm"}}
			}
			r := &run{o: o}
			r.npmCase()
			if len(r.report.Verdicts) != 1 {
				t.Fatalf("verdicts = %+v", r.report.Verdicts)
			}
			v := r.report.Verdicts[0]
			if v.Status != tc.status || !strings.Contains(v.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", v.Status, v.Detail, tc.status, tc.detail)
			}
		})
	}
	// No sign of npm publishing: nothing to say.
	r := &run{o: Options{Getenv: func(string) string { return "" }, NpmVersion: func() string { return "9.0.0" }}}
	if r.npmCase(); len(r.report.Verdicts) != 0 {
		t.Errorf("verdicts without npm: %+v", r.report.Verdicts)
	}
}
