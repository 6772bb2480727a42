package oidctest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jsonKind is a decoded JSON value's type.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// The test issuer mints each shape with every claim of its file, in the
// same JSON type: the point of the shapes is that no test sees a type
// GitLab does not send.
func TestMintKeepsEveryShapesClaimsAndTypes(t *testing.T) {
	iss := oidctest.NewServer(t)
	shapes := oidctest.Shapes()
	if len(shapes) < 10 {
		t.Fatalf("%d shapes, want the 10 of testdata/gitlab/id-tokens", len(shapes))
	}
	for _, s := range shapes {
		t.Run(s.Name, func(t *testing.T) {
			if !strings.Contains(s.Source, "http") {
				t.Errorf("source %q cites no address", s.Source)
			}
			m := payload(t, iss.MustMint(t, oidctest.Job{Shape: s.Name}))
			for k, v := range s.Claims {
				if got, want := jsonKind(m[k]), jsonKind(v); got != want {
					t.Errorf("%s is a %s, the shape has a %s", k, got, want)
				}
			}
			for k := range m {
				if _, ok := s.Claims[k]; !ok {
					t.Errorf("minted claim %s is not in the shape", k)
				}
			}
			for _, k := range []string{"iss", "iat", "nbf", "exp", "jti"} {
				if reflect.DeepEqual(m[k], s.Claims[k]) && k != "iss" {
					t.Errorf("%s kept the shape's value %v", k, m[k])
				}
			}
			if m["iss"] != iss.URL {
				t.Errorf("iss = %v", m["iss"])
			}
			for k, v := range s.Claims {
				switch k {
				case "iss", "iat", "nbf", "exp", "jti":
				default:
					if !reflect.DeepEqual(m[k], normal(v)) {
						t.Errorf("%s = %#v, the shape has %#v", k, m[k], v)
					}
				}
			}
		})
	}
}

// normal is v as encoding/json decodes it without UseNumber.
func normal(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// The default token is the GitLab.com shape with the demo job's fields.
func TestDefaultMintIsGitLabComShaped(t *testing.T) {
	iss := oidctest.NewServer(t)
	m := payload(t, iss.MustMint(t, oidctest.Job{Ref: "v1.2.3", RefType: "tag", RefProtected: true, Environment: "prod"}))
	for _, k := range []string{"project_id", "namespace_id", "user_id", "pipeline_id", "job_id", "ref_protected", "environment_protected"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s = %#v, want a JSON string", k, m[k])
		}
	}
	for _, k := range []string{"iat", "nbf", "exp", "runner_id"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("%s = %#v, want a number", k, m[k])
		}
	}
	for _, k := range []string{"groups_direct", "user_identities"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %#v, want an array", k, m[k])
		}
	}
	want := map[string]any{
		"iss": iss.URL, "aud": "sts.amazonaws.com", "sub": "project_path:keyless-ci/demo:ref_type:tag:ref:v1.2.3",
		"ref_path": "refs/tags/v1.2.3", "ref_protected": "true", "environment": "prod", "namespace_path": "keyless-ci",
		"job_project_path": "keyless-ci/demo", "project_id": "4242", "job_project_id": "4242",
		"ci_config_ref_uri": "gitlab.com/keyless-ci/demo//.gitlab-ci.yml@refs/tags/v1.2.3",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

// A customised sub keeps its components when the job changes.
func TestMintKeepsACustomisedSub(t *testing.T) {
	iss := oidctest.NewServer(t)
	m := payload(t, iss.MustMint(t, oidctest.Job{Shape: "custom-sub", Ref: "release", ProjectPath: "a/b"}))
	if m["sub"] != "project_path:a/b:ref:release" {
		t.Errorf("sub = %v", m["sub"])
	}
}

// An instance under a relative URL root publishes discovery under it.
func TestNewServerAtAPrefix(t *testing.T) {
	iss := oidctest.NewServerAt(t, "/gitlab")
	if !strings.HasSuffix(iss.URL, "/gitlab") {
		t.Fatalf("URL = %s", iss.URL)
	}
	resp, err := http.Get(iss.URL + oidctest.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&d)
	if d.Issuer != iss.URL || d.JWKSURI != iss.URL+oidctest.KeysPath {
		t.Errorf("discovery = %+v", d)
	}
}

func TestDiscoveryAndKeysAtGitLabsPaths(t *testing.T) {
	iss := oidctest.NewServer(t)
	resp, err := http.Get(iss.URL + oidctest.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.Issuer != iss.URL || d.JWKSURI != iss.URL+"/oauth/discovery/keys" {
		t.Errorf("discovery = %+v", d)
	}
	keys := func() int {
		resp, err := http.Get(d.JWKSURI)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []map[string]any }
		json.NewDecoder(resp.Body).Decode(&set)
		for _, k := range set.Keys {
			if k["d"] != nil || k["p"] != nil {
				t.Fatal("the JWKS publishes a private key")
			}
		}
		return len(set.Keys)
	}
	if n := keys(); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
	iss.Rotate(true)
	if n := keys(); n != 2 {
		t.Errorf("after rotation keeping the old key: %d keys", n)
	}
	iss.Rotate(false)
	if n := keys(); n != 1 {
		t.Errorf("after rotation dropping old keys: %d keys", n)
	}
}

func TestMintHandler(t *testing.T) {
	iss, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	iss.URL = "https://gitlab.example.com"
	srv := httptest.NewServer(iss.MintHandler())
	defer srv.Close()
	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + "?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, tok := get("aud=a,b&project_path=g/sub/p&ref=dev&protected=false&ttl=5m&age=1m")
	if code != 200 {
		t.Fatalf("%d %s", code, tok)
	}
	m := payload(t, tok)
	aud, _ := m["aud"].([]any)
	if len(aud) != 2 || m["namespace_path"] != "g/sub" || m["ref_protected"] != "false" {
		t.Errorf("claims: %v", m)
	}
	exp, iat := m["exp"].(float64), m["iat"].(float64)
	if exp-iat != 300 || time.Since(time.Unix(int64(iat), 0)) < 55*time.Second {
		t.Errorf("iat %v exp %v", iat, exp)
	}
	if code, _ := get("shape=invented"); code != http.StatusBadRequest {
		t.Errorf("unknown shape: %d", code)
	}
	code, tok = get("shape=tag-pipeline&aud=x")
	if m := payload(t, tok); code != 200 || m["ref"] != "v4.2.0" || m["aud"] != "x" {
		t.Errorf("shape: %d %v", code, m)
	}
	if code, _ := get("ttl=forever"); code != http.StatusBadRequest {
		t.Errorf("bad ttl: %d", code)
	}
}
