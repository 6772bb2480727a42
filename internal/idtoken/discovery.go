package idtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Discovery is an issuer's OpenID discovery document, fetched by go-oidc
// (https://openid.net/specs/openid-connect-discovery-1_0.html). Verify
// uses it, and keyless doctor reports on it and its keys apart from the
// signature.
type Discovery struct {
	// Issuer is the issuer URL the document names (and was asked for).
	Issuer string
	// URL is where the document was fetched.
	URL string
	// JWKSURI is where the issuer publishes its signing keys.
	JWKSURI string

	provider *oidc.Provider
	client   *http.Client
}

// DiscoveryError means the discovery document or the keys could not be
// fetched or read.
type DiscoveryError struct {
	URL string
	Err error
}

func (e *DiscoveryError) Error() string {
	err := e.Err
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is said once
	}
	msg := err.Error()
	// go-oidc quotes the response body after the status; an HTML error
	// page is no help on one line.
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf("GET %s: %s", e.URL, msg)
}

func (e *DiscoveryError) Unwrap() error { return e.Err }

// IssuerMismatchError means the discovery document names another issuer
// than the one asked for: the clouds refuse such an issuer's tokens.
type IssuerMismatchError struct {
	URL        string // the discovery document's
	Expected   string // the issuer asked for
	Discovered string // the document's issuer
	Err        error  // go-oidc's
}

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("%s says issuer %q, expected %q", e.URL, e.Discovered, e.Expected)
}

func (e *IssuerMismatchError) Unwrap() error { return e.Err }

// Discover fetches issuer's discovery document with client (the default
// client when nil).
func Discover(ctx context.Context, client *http.Client, issuer string) (*Discovery, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	if client != nil {
		ctx = oidc.ClientContext(ctx, client)
	}
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		var mm *oidc.IssuerMismatchError
		if errors.As(err, &mm) {
			return nil, &IssuerMismatchError{URL: wellKnown, Expected: mm.Provided, Discovered: mm.Discovered, Err: err}
		}
		return nil, &DiscoveryError{URL: wellKnown, Err: err}
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, &DiscoveryError{URL: wellKnown, Err: err}
	}
	return &Discovery{Issuer: issuer, URL: wellKnown, JWKSURI: doc.JWKSURI, provider: p, client: client}, nil
}

// Keys fetches the issuer's published keys (its JWKS) and returns how many
// it lists. Verify fetches them itself, through go-oidc; this tells
// unreachable keys apart from a bad signature.
func (d *Discovery) Keys(ctx context.Context) (int, error) {
	if d.JWKSURI == "" {
		return 0, &DiscoveryError{URL: d.URL, Err: errors.New("the document has no jwks_uri")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.JWKSURI, nil)
	if err != nil {
		return 0, &DiscoveryError{URL: d.JWKSURI, Err: err}
	}
	client := d.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, &DiscoveryError{URL: d.JWKSURI, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, &DiscoveryError{URL: d.JWKSURI, Err: errors.New(resp.Status)}
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return 0, &DiscoveryError{URL: d.JWKSURI, Err: fmt.Errorf("not JSON: %w", err)}
	}
	return len(set.Keys), nil
}
