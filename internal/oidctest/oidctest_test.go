package oidctest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// GitLab encodes ids and booleans as JSON strings; trust policies compare
// strings, so the test issuer must too.
func TestClaimsHaveGitLabsTypes(t *testing.T) {
	iss := oidctest.NewServer(t)
	m := payload(t, iss.MustMint(t, oidctest.Job{Ref: "v1.2.3", RefType: "tag", RefProtected: true, Environment: "prod"}))
	for _, k := range []string{"project_id", "namespace_id", "user_id", "pipeline_id", "job_id", "ref_protected", "environment_protected", "runner_id"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s = %#v, want a JSON string", k, m[k])
		}
	}
	for _, k := range []string{"iat", "nbf", "exp"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("%s = %#v, want a number", k, m[k])
		}
	}
	want := map[string]any{
		"iss": iss.URL, "aud": "sts.amazonaws.com", "sub": "project_path:keyless-ci/demo:ref_type:tag:ref:v1.2.3",
		"ref_path": "refs/tags/v1.2.3", "ref_protected": "true", "environment": "prod", "namespace_path": "keyless-ci",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
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
	if code, _ := get("ttl=forever"); code != http.StatusBadRequest {
		t.Errorf("bad ttl: %d", code)
	}
}
