package gitlabtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewServerStartAt(t *testing.T) {
	s := NewServer()
	s.AddProject("g/p")
	u, stop, err := s.StartAt("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if u != s.URL || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, s.URL = %q", u, s.URL)
	}
	if _, _, err := s.StartAt(""); err == nil {
		t.Error("a second StartAt did not fail")
	}
	resp, body := get(t, s, "/api/v4/projects/g%2Fp", s.Token)
	if resp.StatusCode != 200 || !strings.Contains(body, `"path_with_namespace":"g/p"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	_, body = get(t, s, "/-/stats", "")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Requests != 1 || st.ByRoute["GET projects/:id"] != 1 {
		t.Errorf("stats = %s (%v)", body, err)
	}
	if len(s.Requests()) != 1 {
		t.Errorf("Requests() = %v", s.Requests())
	}
}

func TestStatsEndpointOffByDefault(t *testing.T) {
	s := New(t)
	resp, _ := get(t, s, "/-/stats", "")
	if resp.StatusCode != 404 {
		t.Errorf("/-/stats on New = %d, want 404 as before", resp.StatusCode)
	}
}

func TestLatency(t *testing.T) {
	s := New(t)
	s.Latency = 50 * time.Millisecond
	start := time.Now()
	get(t, s, "/api/v4/user", s.Token)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered in %s, want at least the latency", d)
	}
	// The wait ends with the request.
	s.Latency = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v4/user", nil)
	if _, err := s.Client().Do(req); err == nil {
		t.Fatal("no error")
	}
	s.Close() // returns once the handler has seen the request end
}

func TestLatencyJitter(t *testing.T) {
	s := New(t)
	s.LatencyJitter = time.Hour
	s.jitter = func(max time.Duration) time.Duration { return max / 2 } // the draw, fixed
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v4/user", nil)
	if _, err := s.Client().Do(req); err == nil {
		t.Fatal("answered: the jitter did not delay the request")
	}
	s.Close()
}

func TestTokenRateLimit(t *testing.T) {
	s := New(t)
	s.AddUser("other", "other", false)
	s.TokenRateLimit = 3
	s.Advance(45 * time.Second) // 12:00:45, 15 s before the window ends
	var codes []int
	for range 5 {
		resp, _ := get(t, s, "/api/v4/user", s.Token)
		codes = append(codes, resp.StatusCode)
		if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Name") != "throttle_authenticated_api" {
			t.Errorf("headers %v", resp.Header)
		}
		if resp.StatusCode == 429 {
			if ra := resp.Header.Get("Retry-After"); ra != "15" {
				t.Errorf("Retry-After = %q, want 15", ra)
			}
			if rs := resp.Header.Get("RateLimit-Reset"); rs != fmt.Sprint(time.Date(2025, 6, 1, 12, 1, 0, 0, time.UTC).Unix()) {
				t.Errorf("RateLimit-Reset = %q", rs)
			}
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Errorf("codes = %v", codes)
	}
	if resp, _ := get(t, s, "/api/v4/user", "other"); resp.StatusCode != 200 {
		t.Errorf("another token = %d: the limit is per token", resp.StatusCode)
	}
	s.Advance(14*time.Second + 500*time.Millisecond)
	if resp, _ := get(t, s, "/api/v4/user", s.Token); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("half a second before the reset: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.Advance(time.Second)
	if resp, _ := get(t, s, "/api/v4/user", s.Token); resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("next window: %d remaining %q", resp.StatusCode, resp.Header.Get("RateLimit-Remaining"))
	}
	st := s.Stats()
	if st.Requests != 8 || st.Throttled != 3 || st.Served != 5 || st.ByStatus["429"] != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// walk lists every project with keyset pagination and returns the ids.
func walk(t testing.TB, s *Server, query string) []int64 {
	t.Helper()
	var ids []int64
	url := s.URL + "/api/v4/projects?pagination=keyset&order_by=id&" + query
	for url != "" {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("PRIVATE-TOKEN", s.Token)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page []struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		url = ""
		if l := resp.Header.Get("Link"); l != "" {
			url = l[1:strings.Index(l, ">")]
		}
	}
	return ids
}

func TestKeysetFastPathMatchesSlowPath(t *testing.T) {
	s := New(t)
	for i := range 250 {
		p := s.AddProject(fmt.Sprintf("g%d/p%03d", i%3, i))
		p.Archived = i%7 == 0
	}
	for _, q := range []string{"per_page=20", "per_page=100&archived=false", "per_page=7&id_after=150"} {
		fast := walk(t, s, q+"&sort=asc")
		s.projects[0], s.projects[1] = s.projects[1], s.projects[0] // unsorted: the old path
		slow := walk(t, s, q+"&sort=asc")
		s.projects[0], s.projects[1] = s.projects[1], s.projects[0]
		if fmt.Sprint(fast) != fmt.Sprint(slow) || len(fast) == 0 {
			t.Errorf("%s: fast %v\nslow %v", q, fast, slow)
		}
	}
}

func TestTenThousandProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := New(t)
	start := time.Now()
	for i := range 10000 {
		p := fmt.Sprintf("acme/g%03d/p%05d", i%50, i)
		s.AddProject(p)
		for k := range 5 {
			s.AddVariable(p, Variable{Key: fmt.Sprintf("V%d", k), Value: "x"})
		}
		s.AddFile(p, "main", ".gitlab-ci.yml", "x:\n  script: [true]\n")
	}
	built := time.Since(start)
	start = time.Now()
	ids := walk(t, s, "per_page=100")
	walked := time.Since(start)
	if len(ids) != 10000 {
		t.Fatalf("%d projects", len(ids))
	}
	resp, body := get(t, s, "/api/v4/projects/acme%2Fg049%2Fp09999/variables", s.Token)
	if resp.StatusCode != 200 || strings.Count(body, `"key"`) != 5 {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	t.Logf("10,000 projects, 50,000 variables added in %s; listed (100 pages) in %s", built, walked)
	if built > 10*time.Second || walked > 10*time.Second {
		t.Errorf("too slow: built in %s, listed in %s", built, walked)
	}
}

// Issue 16: a request sent inside its token's Retry-After window is
// counted and answered 429 with the rest of the wait; another token is not
// concerned, and the end of the wait lets requests through again.
func TestRetryAfterWindowPunished(t *testing.T) {
	s := New(t)
	s.AddUser("glpat-other", "other", false)
	s.RetryAfter = 10 * time.Second
	s.Throttle(1)
	status := func(token string) (int, string) {
		resp, _ := get(t, s, "/api/v4/user", token)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if st, ra := status(s.Token); st != 429 || ra != "10" {
		t.Fatalf("first request: %d, Retry-After %q", st, ra)
	}
	s.Advance(4 * time.Second)
	if st, ra := status(s.Token); st != 429 || ra != "6" {
		t.Errorf("inside the window: %d, Retry-After %q, want 429 and 6", st, ra)
	}
	if st, _ := status("glpat-other"); st != 200 {
		t.Errorf("another token: %d", st)
	}
	s.Advance(6 * time.Second)
	if st, _ := status(s.Token); st != 200 {
		t.Errorf("after the window: %d", st)
	}
	if n := s.Stats().InRetryAfter; n != 1 {
		t.Errorf("InRetryAfter = %d, want 1", n)
	}
}
