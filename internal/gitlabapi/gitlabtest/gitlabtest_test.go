package gitlabtest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// jsonKind is a JSON value's type; null goes with any.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// The fake's groups have the keys, and the JSON types, of the samples of
// GitLab's documentation (testdata/README.md).
func TestGroupShapes(t *testing.T) {
	s := New(t)
	s.AddGroup("foo/bar/baz")
	for _, tc := range []struct{ sample, path string }{
		{"list_groups.json", "/api/v4/groups"},
		{"descendant_groups.json", "/api/v4/groups/foo/descendant_groups"},
		{"descendant_groups.json", "/api/v4/groups/foo%2Fbar/subgroups"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.sample))
		if err != nil {
			t.Fatal(err)
		}
		var doc []map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", tc.sample, err)
		}
		resp, body := get(t, s, tc.path, s.Token)
		var got []map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || len(got) == 0 {
			t.Fatalf("GET %s = %d %s: %v", tc.path, resp.StatusCode, body, err)
		}
		for _, g := range got {
			for k, v := range g {
				dv, ok := doc[0][k]
				if !ok {
					t.Errorf("GET %s: key %q is not in %s", tc.path, k, tc.sample)
					continue
				}
				if a, b := jsonKind(v), jsonKind(dv); a != b && a != "null" && b != "null" {
					t.Errorf("GET %s: %q is a %s, the sample's a %s", tc.path, k, a, b)
				}
			}
			for _, k := range []string{"id", "full_path", "parent_id", "web_url"} {
				if _, ok := g[k]; !ok {
					t.Errorf("GET %s: no %q", tc.path, k)
				}
			}
		}
	}
}

func TestListGroups(t *testing.T) {
	s := New(t)
	s.AddGroup("b/sub/deep")
	s.AddGroup("a")
	s.AddGroup("c").Role = 0  // not a member
	s.AddGroup("d").Role = 30 // developer
	s.AddUser("admin-token", "root", true)
	paths := func(path, token string) []string {
		t.Helper()
		resp, body := get(t, s, path, token)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		var gs []struct {
			FullPath string `json:"full_path"`
		}
		if err := json.Unmarshal([]byte(body), &gs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.FullPath)
		}
		return out
	}
	for _, tc := range []struct {
		path, token string
		want        []string
	}{
		// Default order: by name.
		{"/api/v4/groups", s.Token, []string{"a", "b", "d", "b/sub/deep", "b/sub"}},
		{"/api/v4/groups", "admin-token", []string{"a", "b", "c", "d", "b/sub/deep", "b/sub"}},
		{"/api/v4/groups?all_available=true&order_by=id", s.Token, []string{"b", "b/sub", "b/sub/deep", "a", "c", "d"}},
		{"/api/v4/groups?all_available=true&min_access_level=40&order_by=path", s.Token, []string{"a", "b", "b/sub", "b/sub/deep"}},
		{"/api/v4/groups?all_available=true&top_level_only=true&order_by=path&sort=desc", s.Token, []string{"d", "c", "b", "a"}},
		{"/api/v4/groups/b/subgroups", s.Token, []string{"b/sub"}},
		{"/api/v4/groups/b/descendant_groups?order_by=path", s.Token, []string{"b/sub", "b/sub/deep"}},
	} {
		got := paths(tc.path, tc.token)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("GET %s (-want +got):\n%s", tc.path, d)
		}
	}
	resp, body := get(t, s, "/api/v4/groups?order_by=size", s.Token)
	if resp.StatusCode != 400 || body != `{"error":"order_by does not have a valid value"}` {
		t.Errorf("bad order_by = %d %s", resp.StatusCode, body)
	}
	resp, _ = get(t, s, "/api/v4/groups?all_available=true&per_page=2&page=2", s.Token)
	if resp.Header.Get("X-Total") != "6" || resp.Header.Get("X-Next-Page") != "3" {
		t.Errorf("page 2: X-Total %q X-Next-Page %q", resp.Header.Get("X-Total"), resp.Header.Get("X-Next-Page"))
	}
}

// TestMergeRequestShapes: the fake's branch, commit and merge request
// answers use the keys and JSON types of the SDK's samples (testdata).
func TestMergeRequestShapes(t *testing.T) {
	s := New(t)
	s.AddProject("g/app")
	s.AddFile("g/app", "main", "ci.yml", "x")
	send := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
		req.Header.Set("PRIVATE-TOKEN", s.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		var out any
		json.Unmarshal(b, &out)
		if l, ok := out.([]any); ok && len(l) > 0 {
			out = l[0]
		}
		m, _ := out.(map[string]any)
		return m
	}
	for _, tc := range []struct {
		sample, method, path, body string
	}{
		{"get_branch.json", "POST", "/api/v4/projects/g%2Fapp/repository/branches", `{"branch":"b","ref":"main"}`},
		{"get_branch.json", "GET", "/api/v4/projects/g%2Fapp/repository/branches/b", ""},
		{"get_commit.json", "POST", "/api/v4/projects/g%2Fapp/repository/commits", `{"branch":"b","commit_message":"m","actions":[{"action":"update","file_path":"ci.yml","content":"y"}]}`},
		{"get_merge_request.json", "POST", "/api/v4/projects/g%2Fapp/merge_requests", `{"title":"t","source_branch":"b","target_branch":"main"}`},
		{"get_merge_request.json", "GET", "/api/v4/projects/g%2Fapp/merge_requests?state=opened&source_branch=b", ""},
		{"get_merge_request.json", "PUT", "/api/v4/projects/g%2Fapp/merge_requests/1", `{"description":"d"}`},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.sample))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", tc.sample, err)
		}
		got := send(tc.method, tc.path, tc.body)
		if len(got) == 0 {
			t.Fatalf("%s %s: no object in the answer", tc.method, tc.path)
		}
		for k, v := range got {
			dv, ok := doc[k]
			if !ok {
				t.Errorf("%s %s: key %q is not in %s", tc.method, tc.path, k, tc.sample)
				continue
			}
			if a, b := jsonKind(v), jsonKind(dv); a != b && a != "null" && b != "null" {
				t.Errorf("%s %s: %q is a %s, the sample's a %s", tc.method, tc.path, k, a, b)
			}
		}
	}
}
