// Package policytest is what the trust providers' tests share: every
// generated document of a provider, checked and compared with a golden
// file.
package policytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// CheckGenerated generates p's documents for each spec in every format
// p offers and compares them, with the warnings, with
// testdata/<spec>.<format>.golden; update rewrites those files. Every
// JSON document must parse; check, when not nil, looks at each document
// too (a CloudFormation template, say).
func CheckGenerated(t *testing.T, p policy.Provider, specs map[string]policy.Spec, update bool, check func(t *testing.T, d policy.Document)) {
	t.Helper()
	for name, spec := range specs {
		for _, format := range p.Formats() {
			t.Run(name+"."+format, func(t *testing.T) {
				docs, warnings, err := p.Generate(spec, format)
				if err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				for _, d := range docs {
					if d.Format == "json" && !json.Valid([]byte(d.Body)) {
						t.Errorf("%s: not JSON", d.Name)
					}
					if check != nil {
						check(t, d)
					}
					b.WriteString("==> " + d.Name + " (" + d.Format + ")\n" + d.Body)
				}
				for _, w := range warnings {
					b.WriteString("warning [" + w.ID + "]: " + option.Plain(w.Message) + "\n")
				}
				Golden(t, filepath.Join("testdata", name+"."+format+".golden"), b.String(), update)
			})
		}
	}
}

// Golden compares got with the file at path, or rewrites the file when
// update is set.
func Golden(t *testing.T, path, got string, update bool) {
	t.Helper()
	if update {
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
		t.Fatalf("%v (go test -update in the package writes it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

// Claims parses payload, a job's claims as JSON, and changes them with
// muts (Set, Unset).
func Claims(t testing.TB, payload []byte, muts ...func(policy.Claims)) policy.Claims {
	t.Helper()
	c, err := policy.ParseClaims(payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range muts {
		m(c)
	}
	return c
}

// Set sets claims, given as name, value pairs.
func Set(kv ...string) func(policy.Claims) {
	return func(c policy.Claims) {
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
	}
}

// Unset removes the claims named.
func Unset(names ...string) func(policy.Claims) {
	return func(c policy.Claims) {
		for _, n := range names {
			delete(c, n)
		}
	}
}
