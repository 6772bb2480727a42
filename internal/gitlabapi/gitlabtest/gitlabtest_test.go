package gitlabtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, s *Server, path, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestShapes(t *testing.T) {
	s := New(t)
	s.AddProject("g/p")
	s.AddVariable("g/p", Variable{Key: "H", Value: "secret", Masked: true, Hidden: true})

	for _, tc := range []struct {
		path, token string
		status      int
		body        string
	}{
		{"/api/v4/user", "", 401, `{"message":"401 Unauthorized"}`},
		{"/api/v4/projects/g%2Fnone", s.Token, 404, `{"message":"404 Project Not Found"}`},
		{"/api/v4/groups/none", s.Token, 404, `{"message":"404 Group Not Found"}`},
		{"/api/v4/admin/ci/variables", s.Token, 403, `{"message":"403 Forbidden"}`},
		// GitLab needs the path URL-encoded: unencoded, :id is "g".
		{"/api/v4/projects/g/p/variables", s.Token, 404, `{"message":"404 Project Not Found"}`},
		{"/api/v4/nothing", s.Token, 404, `{"error":"404 Not Found"}`},
		{"/api/v4/projects?pagination=keyset&order_by=name", s.Token, 405, `{"error":"Keyset pagination is not yet available for this type of request"}`},
	} {
		resp, body := get(t, s, tc.path, tc.token)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("GET %s = %d %s, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}

	resp, body := get(t, s, "/api/v4/projects/g%2Fp/variables", s.Token)
	var vs []map[string]any
	if err := json.Unmarshal([]byte(body), &vs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if v, ok := vs[0]["value"]; !ok || v != nil || vs[0]["hidden"] != true {
		t.Errorf("hidden variable = %v, want value null", vs[0])
	}
}

func TestOffsetHeaders(t *testing.T) {
	s := New(t)
	items := make([]any, 10001)
	for i := range items {
		items[i] = i
	}
	r, _ := http.NewRequest(http.MethodGet, "/api/v4/x?per_page=100&page=2", nil)
	big := s.offset(r, items, r.URL.Query())
	small := s.offset(r, items[:250], r.URL.Query())
	for _, tc := range []struct {
		name       string
		h          http.Header
		total, nxt string
		last       bool
	}{
		{"over 10,000", big.header, "", "3", false},
		{"250", small.header, "250", "3", true},
	} {
		if got := tc.h.Get("X-Total"); got != tc.total {
			t.Errorf("%s: X-Total = %q, want %q", tc.name, got, tc.total)
		}
		if got := tc.h.Get("X-Next-Page"); got != tc.nxt {
			t.Errorf("%s: X-Next-Page = %q", tc.name, got)
		}
		if got := strings.Contains(tc.h.Get("Link"), `rel="last"`); got != tc.last {
			t.Errorf("%s: Link = %s", tc.name, tc.h.Get("Link"))
		}
		if !strings.Contains(tc.h.Get("Link"), `page=3&per_page=100>; rel="next"`) {
			t.Errorf("%s: Link = %s, want a next link", tc.name, tc.h.Get("Link"))
		}
	}
}
