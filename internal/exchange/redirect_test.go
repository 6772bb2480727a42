package exchange_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

const secretToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXRoYXQtbXVzdC1zdGF5"

func TestNoRedirectsRefusesEveryRedirect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		tls    bool
	}{
		{"307 to another server", 307, false},
		{"308 to another server", 308, false},
		{"302 to another server", 302, false},
		{"https to http", 307, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trap := exchangetest.NewTrap(t, secretToken)
			from, client := exchangetest.Redirector(t, tc.status, trap.URL, tc.tls)
			c := exchange.NoRedirects(client, "sts-endpoint")
			resp, err := c.Post(from+"/v1/token?key=query-secret", "application/x-www-form-urlencoded", strings.NewReader("subject_token="+secretToken))
			if err == nil {
				resp.Body.Close()
			}
			var re *exchange.RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RedirectError", err)
			}
			if trap.Hits() != 0 {
				t.Fatalf("%d requests reached the redirect's target", trap.Hits())
			}
			msg := re.Error() + "\n" + option.Plain(re.Advice())
			for _, want := range []string{from + "/v1/token answered HTTP", " a redirect to " + trap.URL, "--sts-endpoint", "follows no redirect"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if tc.tls != strings.Contains(msg, "drops https") {
				t.Errorf("downgrade named: %t, want %t:\n%s", !tc.tls, tc.tls, msg)
			}
			for _, leak := range []string{exchangetest.LeakyQuery, "query-secret", secretToken} {
				if strings.Contains(msg, leak) {
					t.Errorf("message quotes %q:\n%s", leak, msg)
				}
			}
		})
	}
	// The client given is not changed.
	base := &http.Client{}
	exchange.NoRedirects(base, "x")
	if base.CheckRedirect != nil {
		t.Error("NoRedirects changed the client it was given")
	}
}

func TestSameOriginRedirectsStayOnTheHost(t *testing.T) {
	// A standby that redirects to the same address is followed, body and all.
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/auth/jwt/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v1/auth/jwt/login-active", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/v1/auth/jwt/login-active", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	})
	same := httptest.NewServer(mux)
	t.Cleanup(same.Close)
	c := exchange.SameOriginRedirects(nil, "addr")
	resp, err := c.Post(same.URL+"/v1/auth/jwt/login", "application/json", strings.NewReader(`{"jwt":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != `{"jwt":"x"}` {
		t.Errorf("the redirected request carried %q", got)
	}

	// Another host, or https to http, is refused.
	for _, tls := range []bool{false, true} {
		trap := exchangetest.NewTrap(t, "x")
		from, client := exchangetest.Redirector(t, 307, trap.URL, tls)
		_, err := exchange.SameOriginRedirects(client, "addr").Post(from+"/v1/auth/jwt/login", "application/json", strings.NewReader(`{"jwt":"x"}`))
		var re *exchange.RedirectError
		if !errors.As(err, &re) || !re.SameOrigin || trap.Hits() != 0 {
			t.Fatalf("tls %t: err = %v, %d requests reached the target", tls, err, trap.Hits())
		}
		if msg := option.Plain(re.Advice()); !strings.Contains(msg, "only within "+from) || !strings.Contains(msg, "--addr") {
			t.Errorf("advice:\n%s", msg)
		}
	}

	// The same host over another scheme is another origin.
	check := exchange.SameOriginRedirects(nil, "addr").CheckRedirect
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	first := &http.Request{URL: parse("https://vault.example:8200/v1/auth/jwt/login")}
	for target, allowed := range map[string]bool{
		"https://vault.example:8200/v1/other": true,
		"https://VAULT.example:8200/v1/other": true,
		"http://vault.example:8200/v1/other":  false,
		"https://vault.example:8201/v1/other": false,
		"https://active.example:8200/v1/x":    false,
	} {
		err := check(&http.Request{URL: parse(target), Response: &http.Response{StatusCode: 307}}, []*http.Request{first})
		if (err == nil) != allowed {
			t.Errorf("%s: err = %v, want allowed %t", target, err, allowed)
		}
	}
}
