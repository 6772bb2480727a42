package vaulttest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// The fake answers the official client's own helpers (auth, KVv1, KVv2,
// token) the way a Vault server does, so the shapes keyless relies on are
// the ones the library expects.
func client(t *testing.T, v *vaulttest.Vault) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	return c
}

func login(t *testing.T, v *vaulttest.Vault, c *api.Client) *api.Secret {
	t.Helper()
	iss, _ := oidctest.New()
	jwt := iss.MustMint(t, oidctest.Job{Audience: []string{vaulttest.DefaultAudience}})
	s, err := c.Logical().WriteWithContext(context.Background(), "auth/jwt/login", map[string]any{"role": "deploy", "jwt": jwt})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheOfficialClientReadsTheFake(t *testing.T) {
	v := vaulttest.New(t)
	c := client(t, v)
	s := login(t, v, c)
	tok, err := s.TokenID()
	if err != nil || !strings.HasPrefix(tok, "hvs.") {
		t.Fatalf("TokenID: %q %v", tok, err)
	}
	if ttl, _ := s.TokenTTL(); ttl.Hours() != 1 {
		t.Errorf("TokenTTL %s", ttl)
	}
	if p, _ := s.TokenPolicies(); strings.Join(p, ",") != "ci-read,default" {
		t.Errorf("TokenPolicies %v", p)
	}
	c.SetToken(tok)

	kv2, err := c.KVv2("secret").Get(context.Background(), "ci/db")
	if err != nil {
		t.Fatal(err)
	}
	if kv2.Data["password"] != "fake-db-password" || kv2.VersionMetadata == nil || kv2.VersionMetadata.Version != 1 {
		t.Errorf("KVv2 Get: %+v", kv2)
	}
	kv1, err := c.KVv1("kv1").Get(context.Background(), "ci/api")
	if err != nil {
		t.Fatal(err)
	}
	if kv1.Data["key"] != "fake-api-key" {
		t.Errorf("KVv1 Get: %+v", kv1.Data)
	}
	if _, err := c.KVv2("secret").Get(context.Background(), "ci/none"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("a missing KVv2 secret: %v", err)
	}
	// A deleted version has no data and says when it was deleted.
	v.Delete("secret/ci/db")
	if del, err := c.KVv2("secret").Get(context.Background(), "ci/db"); err != nil || del.Data != nil || del.VersionMetadata.DeletionTime.IsZero() {
		t.Errorf("a deleted KVv2 version: %+v %v", del, err)
	}
	// KV v2 read at a path without data/: Vault's warning, no data.
	v.Policies["ci-read"] = append(v.Policies["ci-read"], "secret/ci/*")
	raw, err := c.Logical().ReadWithContext(context.Background(), "secret/ci/db")
	if err != nil || raw == nil || len(raw.Warnings) != 1 || raw.Data != nil {
		t.Errorf("v2 path without data/: %+v %v", raw, err)
	}

	if err := c.Auth().Token().RevokeSelfWithContext(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	_, err = c.KVv1("kv1").Get(context.Background(), "ci/api")
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.Errors[0] != "permission denied" {
		t.Errorf("after revoke-self: %v", err)
	}
}

func TestErrorsHaveVaultsShape(t *testing.T) {
	v := vaulttest.New(t, vaulttest.Sealed, vaulttest.BadGateway)
	c := client(t, v)
	_, err := c.Logical().ReadWithContext(context.Background(), "sys/internal/ui/mounts/secret")
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 503 || re.RawError || re.Errors[0] != "Vault is sealed" {
		t.Errorf("sealed: %#v", err)
	}
	_, err = c.Logical().ReadWithContext(context.Background(), "sys/internal/ui/mounts/secret")
	if !errors.As(err, &re) || re.StatusCode != 502 || !re.RawError {
		t.Errorf("a proxy's 502: %#v", err)
	}
	_, err = c.Logical().WriteWithContext(context.Background(), "auth/jwt/login", map[string]any{"role": "nope", "jwt": "x.y.z"})
	if !errors.As(err, &re) || re.StatusCode != 400 || re.Errors[0] != `role "nope" could not be found` {
		t.Errorf("unknown role: %#v", err)
	}
	_, err = c.Logical().ReadWithContext(context.Background(), "sys/internal/ui/mounts/secret/ci/db")
	if !errors.As(err, &re) || re.StatusCode != 403 || !strings.HasPrefix(re.Errors[0], "preflight capability check returned 403") {
		t.Errorf("preflight without a token: %#v", err)
	}
	s := login(t, v, c)
	c.SetToken(s.Auth.ClientToken)
	m, err := c.Logical().ReadWithContext(context.Background(), "sys/internal/ui/mounts/secret/ci/db")
	if err != nil || m.Data["path"] != "secret/" || m.Data["type"] != "kv" || m.Data["options"].(map[string]any)["version"] != "2" {
		t.Errorf("preflight: %+v %v", m, err)
	}
	_, err = c.Logical().ReadWithContext(context.Background(), "secret/data/prod/db")
	if !errors.As(err, &re) || re.StatusCode != 403 {
		t.Errorf("outside the policy: %#v", err)
	}
}
