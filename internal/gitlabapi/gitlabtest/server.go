package gitlabtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// statsPath is where StatsEndpoint serves Stats.
const statsPath = "/-/stats"

// NewServer returns a fake that is not yet listening, for use outside
// `go test` (cmd/keyless-fake-gitlab, benchmarks): fill it with the Add
// methods, then StartAt. Unlike New, its clock is time.Now (so that
// TokenRateLimit's windows pass in real time), and it serves /-/stats.
func NewServer() *Server {
	s := newServer()
	s.Now = time.Now
	s.StatsEndpoint = true
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	return s
}

// StartAt starts a fake made by NewServer listening on addr
// ("127.0.0.1:0" for any free port; "" is the same). It returns the base
// URL (also s.URL) and stop, which closes the server and waits for the
// requests in flight.
func (s *Server) StartAt(addr string) (baseURL string, stop func(), err error) {
	if s.Server == nil || s.Server.URL != "" {
		return "", nil, fmt.Errorf("gitlabtest: StartAt needs a server from NewServer, not yet started")
	}
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return "", nil, err
		}
		s.Server.Listener.Close()
		s.Server.Listener = l
	}
	s.Server.Start()
	return s.URL, s.Close, nil
}

// Stats counts the API requests the fake answered (not /-/stats).
type Stats struct {
	// Requests is every request answered, 429s included.
	Requests int64 `json:"requests"`
	// Throttled is the requests answered 429 (TokenRateLimit, RateLimit,
	// Throttle or Fail).
	Throttled int64 `json:"throttled"`
	// Served is Requests less Throttled: the requests a client needed.
	Served int64 `json:"served"`
	// InRetryAfter is the requests that arrived inside a Retry-After
	// window of their token (see inRetryAfter): a client that honours
	// Retry-After for all its workers sends none.
	InRetryAfter int64 `json:"in_retry_after"`
	// ByStatus counts the answers by HTTP status ("200": n).
	ByStatus map[string]int64 `json:"by_status"`
	// ByRoute counts the answers but 429s by route, with :id, :file and
	// :key for the path's variable segments
	// ("GET projects/:id/variables": n).
	ByRoute map[string]int64 `json:"by_route"`
	// Since is when the first request was counted.
	Since time.Time `json:"since"`
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Served = out.Requests - out.Throttled
	out.ByStatus = map[string]int64{}
	for k, v := range s.statsCodes {
		out.ByStatus[strconv.Itoa(k)] = v
	}
	out.ByRoute = maps.Clone(s.statsRoutes)
	return out
}

// count records one answer; s.mu is held.
func (s *Server) count(r *http.Request, status int) {
	if s.stats.Since.IsZero() {
		s.stats.Since = time.Now()
	}
	s.stats.Requests++
	s.statsCodes[status]++
	if status == http.StatusTooManyRequests {
		s.stats.Throttled++
		return
	}
	s.statsRoutes[r.Method+" "+route(r.URL.EscapedPath())]++
}

// route is an API path with its variable segments named.
func route(escaped string) string {
	p, ok := strings.CutPrefix(escaped, "/api/v4/")
	if !ok {
		return "(not the API)"
	}
	seg := strings.Split(p, "/")
	if len(seg) >= 2 && (seg[0] == "projects" || seg[0] == "groups") {
		seg[1] = ":id"
		if len(seg) >= 4 && seg[2] == "repository" && seg[3] == "files" && len(seg) >= 5 {
			seg[4] = ":file"
		}
		if len(seg) >= 4 && seg[2] == "issues" {
			seg[3] = ":iid"
		}
	}
	if len(seg) >= 3 && seg[0] == "templates" {
		seg = append(seg[:2], ":key")
	}
	return strings.Join(seg, "/")
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	b, _ := json.MarshalIndent(s.Stats(), "", "  ")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// delay waits Latency (and a part of LatencyJitter), or until the
// client goes; false when it went.
func (s *Server) delay(r *http.Request) bool {
	d := s.Latency
	if s.LatencyJitter > 0 {
		draw := rand.N[time.Duration]
		if s.jitter != nil {
			draw = s.jitter
		}
		d += draw(s.LatencyJitter)
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// tokenKey is whom GitLab's limits count: the user of the token, else
// the client's IP address.
// https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/
func tokenKey(r *http.Request) string {
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return "token:" + t
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return "ip:" + host
}

// inFlight is how long after a 429 a request of the same token is taken
// for one sent before the client could read that 429, not a violation.
const inFlight = 50 * time.Millisecond

// retryWindow is a token's Retry-After window: until the end of the last
// Retry-After it was given; last is when the last 429 was answered.
type retryWindow struct{ last, end time.Time }

// inRetryAfter reports whether a request of key that arrived at arrived
// is inside a Retry-After window given to key, and counts it; s.mu is
// held. GitLab's limits are per user: a 429 tells the client that every
// request of the token will be refused until Retry-After has passed, and
// requests sent inside it count against the limit all the same, keeping
// the user throttled ("throttled requests count"; issue 16). Requests
// arriving within inFlight of the token's last 429 were sent before it
// could be read, and do not count.
// https://docs.gitlab.com/security/rate_limits/#headers
func (s *Server) inRetryAfter(key string, arrived time.Time) bool {
	w := s.retryAfter[key]
	if w == nil || !arrived.Before(w.end) || arrived.Sub(w.last) < inFlight {
		return false
	}
	s.stats.InRetryAfter++
	return true
}

// punish answers a request sent inside its token's Retry-After window:
// 429 with the rest of the wait, whatever else the request would have
// got (issue 16); s.mu is held. The window is not extended: two clients
// sharing a token (keyless report shards) would then keep each other
// throttled for ever, each one's requests landing in the wait the other's
// last violation began. GitLab does not extend it either; the request
// counts against TokenRateLimit, as a throttled one does in GitLab.
func (s *Server) punish(key string, now time.Time) resp {
	w := s.retryAfter[key]
	w.last = now
	out := message(http.StatusTooManyRequests, "Retry later")
	out.header.Set("Retry-After", strconv.Itoa(max(int(math.Ceil(w.end.Sub(now).Seconds())), 1)))
	return out
}

// noteRetryAfter opens or extends key's Retry-After window when res is a
// 429 with Retry-After; s.mu is held.
func (s *Server) noteRetryAfter(key string, violation bool, res resp, now time.Time) {
	if res.status != http.StatusTooManyRequests || violation {
		return
	}
	sec, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || sec <= 0 {
		return
	}
	ra := time.Duration(sec) * time.Second
	w := s.retryAfter[key]
	if w == nil || !now.Before(w.end) {
		s.retryAfter[key] = &retryWindow{last: now, end: now.Add(ra)}
		return
	}
	w.end, w.last = later(w.end, now.Add(ra)), now
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// tokenWindow is one token's count in the current window.
type tokenWindow struct {
	start time.Time
	n     int
}

// tokenRateLimit applies TokenRateLimit; s.mu is held. It returns the
// 429 when r is over the limit, and the headers every answer carries.
// https://docs.gitlab.com/security/rate_limits/#headers
func (s *Server) tokenRateLimit(r *http.Request, now time.Time) (resp, bool, http.Header) {
	key := tokenKey(r)
	period := s.TokenRatePeriod
	if period <= 0 {
		period = time.Minute
	}
	w := s.tokWindows[key]
	start := now.Truncate(period)
	if w == nil || !w.start.Equal(start) {
		w = &tokenWindow{start: start}
		s.tokWindows[key] = w
	}
	w.n++
	reset := start.Add(period)
	h := http.Header{}
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(s.TokenRateLimit))
	h.Set("RateLimit-Observed", strconv.Itoa(w.n))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(s.TokenRateLimit-w.n, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	if w.n <= s.TokenRateLimit {
		return resp{}, false, h
	}
	// Rack::Attack: period - now % period, in whole seconds, so at least 1.
	h.Set("Retry-After", strconv.Itoa(max(int(math.Ceil(reset.Sub(now).Seconds())), 1)))
	out := resp{status: http.StatusTooManyRequests, header: h, body: []byte("Retry later\n")}
	out.header.Set("Content-Type", "text/plain")
	return out, true, h
}

// listProjectsFast answers the common keyset walk (ascending ids, the
// projects in id order, as the Add methods keep them) in O(log n + page),
// building only the page's JSON. ok is false for every other request,
// which listProjects answers as before.
func (s *Server) listProjectsFast(r *http.Request, ps []*Project, q url.Values) (resp, bool) {
	if q.Get("pagination") != "keyset" || q.Get("sort") == "desc" {
		return resp{}, false
	}
	if ob := q.Get("order_by"); ob != "" && ob != "id" {
		return resp{}, false
	}
	if !slices.IsSortedFunc(ps, func(a, b *Project) int {
		if a.ID == b.ID {
			return -1 // duplicate ids: left to listProjects
		}
		return cmp.Compare(a.ID, b.ID)
	}) {
		return resp{}, false
	}
	i := 0
	if after, err := strconv.ParseInt(q.Get("id_after"), 10, 64); err == nil {
		i = sort.Search(len(ps), func(k int) bool { return ps[k].ID > after })
	}
	n := perPage(q)
	noArchived := q.Get("archived") == "false"
	page := make([]*Project, 0, n)
	more := false
	for ; i < len(ps); i++ {
		if noArchived && ps[i].Archived {
			continue
		}
		if len(page) == n {
			more = true
			break
		}
		page = append(page, ps[i])
	}
	out := make([]any, len(page))
	for k, p := range page {
		out[k] = s.projectJSON(p)
	}
	res := jsonResp(http.StatusOK, out)
	if more {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("id_after", strconv.FormatInt(page[len(page)-1].ID, 10))
		nq.Set("pagination", "keyset")
		nq.Set("per_page", strconv.Itoa(n))
		nq.Set("order_by", "id")
		res.header.Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", s.URL, r.URL.EscapedPath(), nq.Encode()))
	}
	return res, true
}
