package idtoken_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// unsigned builds a compact JWS around claims with a placeholder
// signature: Decode does not verify.
func unsigned(t testing.TB, claims any) secret.Token {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return secret.New("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln")
}

// reencode is v as a JSON round trip, so that a shape's json.Numbers and
// Claims' typed fields compare as the same JSON.
func reencode(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every shape GitLab sends decodes, and Claims holds each claim it knows
// with the value and JSON type GitLab sent: marshalling Claims gives back
// the shape's claims. A field declared with another type than GitLab's
// (runner_id as a string) drops or changes the claim and fails here.
func TestDecodeEveryGitLabShape(t *testing.T) {
	for _, s := range oidctest.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			tok, err := idtoken.Decode(unsigned(t, s.Claims))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := reencode(t, s.Claims)
			for k, v := range want {
				if v == nil {
					delete(want, k) // GitLab's null is an absent claim
				}
			}
			got := reencode(t, tok.Claims)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Claims does not hold what GitLab sent (-shape +decoded):\n%s", diff)
			}
			// Set is the payload exactly: numbers stay numbers.
			if diff := cmp.Diff(reencode(t, s.Claims), reencode(t, tok.Set)); diff != "" {
				t.Errorf("Set (-shape +decoded):\n%s", diff)
			}
			if n, ok := s.Claims["runner_id"].(json.Number); ok {
				if _, isNum := tok.Set["runner_id"].(json.Number); !isNum || tok.Set["runner_id"] != n {
					t.Errorf("Set runner_id = %#v, want json.Number %s", tok.Set["runner_id"], n)
				}
			}
		})
	}
}

// What the first real token broke on, kept as its own case.
func TestRunnerIDIsANumber(t *testing.T) {
	s, _ := oidctest.ShapeNamed("gitlab-com")
	tok, err := idtoken.Decode(unsigned(t, s.Claims))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tok.Claims.RunnerID); got != "12270835" {
		t.Errorf("RunnerID = %q, want 12270835", got)
	}
	if got := tok.Claims.UserIdentities; len(got) != 1 || got[0].Provider != "github" {
		t.Errorf("UserIdentities = %+v", got)
	}
	if got := tok.Claims.GroupsDirect; len(got) != 2 || got[1] != "org/subgroup" {
		t.Errorf("GroupsDirect = %v", got)
	}
}

func base(t testing.TB) map[string]any {
	t.Helper()
	s, ok := oidctest.ShapeNamed("docs-example")
	if !ok {
		t.Fatal("no docs-example shape")
	}
	m := reencode(t, s.Claims)
	return m
}

// A claim keyless uses, sent in another type with a plain meaning, is read.
func TestUsedClaimsOfAnotherPlainType(t *testing.T) {
	for _, tc := range []struct {
		claim string
		value any
		check func(idtoken.Claims) string
		want  string
	}{
		{"project_id", 20, func(c idtoken.Claims) string { return c.ProjectID }, "20"},
		{"namespace_id", 72.0, func(c idtoken.Claims) string { return c.NamespaceID }, "72"},
		{"ref_protected", true, func(c idtoken.Claims) string { return c.RefProtected }, "true"},
		{"ref_protected", false, func(c idtoken.Claims) string { return c.RefProtected }, "false"},
		{"runner_id", "42", func(c idtoken.Claims) string { return fmt.Sprint(c.RunnerID) }, "42"},
		{"exp", "4102444800", func(c idtoken.Claims) string { return fmt.Sprint(c.ExpiresAt.Unix()) }, "4102444800"},
		{"aud", []string{"a", "b"}, func(c idtoken.Claims) string { return strings.Join(c.Audience, ",") }, "a,b"},
		{"environment", nil, func(c idtoken.Claims) string { return c.Environment }, ""},
	} {
		t.Run(fmt.Sprintf("%s=%v", tc.claim, tc.value), func(t *testing.T) {
			m := base(t)
			m[tc.claim] = tc.value
			tok, err := idtoken.Decode(unsigned(t, m))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(tok.Claims); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// Set keeps what was sent, for the evaluators.
			if diff := cmp.Diff(reencode(t, map[string]any{"v": tc.value})["v"], reencode(t, tok.Set)[tc.claim]); diff != "" && tc.value != nil {
				t.Errorf("Set changed the claim:\n%s", diff)
			}
		})
	}
}

// A claim keyless uses, sent in a type with no plain meaning, is named in
// the error with both types and never its value.
func TestUsedClaimsOfAnUnreadableType(t *testing.T) {
	const canary = "CANARYclaimVALUE"
	for _, tc := range []struct {
		claim string
		value any
		want  string
	}{
		{"project_id", map[string]any{"x": canary}, `claim "project_id" is a JSON object; GitLab sends a string id such as "42"`},
		{"project_id", 4.5, `claim "project_id" is a JSON number`},
		{"ref_protected", []string{canary}, `claim "ref_protected" is a JSON array; GitLab sends a string "true" or "false"`},
		{"project_path", 12, `claim "project_path" is a JSON number; GitLab sends a string`},
		{"aud", map[string]any{"x": canary}, `claim "aud" is a JSON object; GitLab sends a string or an array of strings`},
		{"exp", canary, `claim "exp" is a JSON string; GitLab sends a number of seconds since the epoch`},
		{"iss", true, `claim "iss" is a JSON boolean`},
	} {
		t.Run(tc.claim, func(t *testing.T) {
			m := base(t)
			m[tc.claim] = tc.value
			_, err := idtoken.Decode(unsigned(t, m))
			var me *idtoken.MalformedError
			if !errors.As(err, &me) || me.Claim != tc.claim {
				t.Fatalf("err = %v, want a MalformedError about %s", err, tc.claim)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error lacks %q:\n%s", tc.want, err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error echoes the value: %v", err)
			}
		})
	}
}

// Claims keyless does not use never fail decoding, whatever their type.
func TestUnusedClaimsOfAnyType(t *testing.T) {
	for _, name := range []string{"runner_id", "groups_direct", "user_identities", "user_id", "ci_config_ref_uri",
		"environment_protected", "sha", "job_project_id", "a_claim_of_gitlab_19"} {
		for _, v := range []any{"x", 1.5, true, nil, []any{1, "a"}, map[string]any{"k": []any{}}} {
			m := base(t)
			m[name] = v
			if _, err := idtoken.Decode(unsigned(t, m)); err != nil {
				t.Errorf("%s=%#v: %v", name, v, err)
			}
		}
	}
}

// randomJSON is a random JSON value of any type, nested up to depth.
func randomJSON(r *rand.Rand, depth int) any {
	n := 6
	if depth <= 0 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.NormFloat64() * 1e12
	case 3:
		return fmt.Sprint(r.Uint64())
	case 4:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomJSON(r, depth-1)
		}
		return l
	default:
		m := map[string]any{}
		for i := r.IntN(4); i > 0; i-- {
			m[fmt.Sprint("k", r.IntN(9))] = randomJSON(r, depth-1)
		}
		return m
	}
}

// FuzzDecodeClaims adds random claims of random JSON types to the real
// shapes: decoding never panics, never fails on a claim keyless does not
// use, and only ever fails with a MalformedError naming a used claim.
func FuzzDecodeClaims(f *testing.F) {
	shapes := oidctest.Shapes()
	for i, s := range shapes {
		for k := range s.Claims {
			f.Add(uint8(i), k, uint64(len(k)), "")
		}
		f.Add(uint8(i), "runner_id", uint64(7), `"12270835"`)
		f.Add(uint8(i), "groups_direct", uint64(9), `{"a":[1,null]}`)
	}
	f.Fuzz(func(t *testing.T, shape uint8, name string, seed uint64, raw string) {
		if len(name) > 256 || len(raw) > 4096 {
			return // a token over maxTokenBytes is refused whole, as it should be
		}
		s := shapes[int(shape)%len(shapes)]
		m := reencode(t, s.Claims)
		var v any
		if raw != "" && json.Unmarshal([]byte(raw), &v) == nil {
			m[name] = v
		} else {
			r := rand.New(rand.NewPCG(seed, uint64(shape)))
			m[name] = randomJSON(r, 3)
			for i := r.IntN(3); i > 0; i-- {
				m[fmt.Sprint(name, i)] = randomJSON(r, 3)
			}
		}
		tok, err := idtoken.Decode(unsigned(t, m))
		if err == nil {
			if tok.Set == nil {
				t.Fatal("no Set")
			}
			return
		}
		var me *idtoken.MalformedError
		if !errors.As(err, &me) {
			t.Fatalf("err = %T %v, want a MalformedError", err, err)
		}
		if me.Claim == "" {
			// Only the checks that follow decoding may fail without naming
			// a claim: no iss or exp left.
			if !strings.Contains(me.Reason, "lack iss or exp") {
				t.Fatalf("decoding failed without naming a claim: %v", err)
			}
			return
		}
		if !idtoken.Used(me.Claim) {
			t.Fatalf("decoding failed on %q, a claim keyless does not use: %v", me.Claim, err)
		}
	})
}
