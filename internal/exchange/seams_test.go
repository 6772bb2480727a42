package exchange_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
)

// Send carries the headers every provider sends and reads no more than the
// limit of an answer.
func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got", r.Header.Get("Accept")+" "+r.Header.Get("User-Agent"))
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(strings.Repeat("x", 100)))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, b, err := exchange.Seams{UserAgent: "keyless/test"}.Send(srv.Client(), req, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Got"); got != "application/json keyless/test" {
		t.Errorf("headers sent: %q", got)
	}
	if resp.StatusCode != http.StatusTeapot || len(b) != 10 {
		t.Errorf("status %d, %d bytes; want 418 and the 10-byte limit", resp.StatusCode, len(b))
	}
	srv.Close()
	if _, _, err := (exchange.Seams{}).Send(http.DefaultClient, req, 10); err == nil {
		t.Error("no error from a closed server")
	}
}
