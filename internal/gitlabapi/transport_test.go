package gitlabapi

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestBackoffHeaders(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tr := &transport{now: func() time.Time { return now }}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"retry-after seconds", http.Header{"Retry-After": {"12"}}, 12 * time.Second},
		{"retry-after date", http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{"retry-after wins", http.Header{"Retry-After": {"3"}, "Ratelimit-Reset": {strconv.FormatInt(now.Add(50*time.Second).Unix(), 10)}}, 3 * time.Second},
		{"ratelimit-reset", http.Header{"Ratelimit-Reset": {strconv.FormatInt(now.Add(50*time.Second).Unix(), 10)}}, 50 * time.Second},
		{"reset in the past", http.Header{"Ratelimit-Reset": {strconv.FormatInt(now.Add(-5*time.Second).Unix(), 10)}}, 0},
	} {
		got := tr.backoff(0, &http.Response{Header: tc.header})
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for attempt, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		got := tr.backoff(attempt, &http.Response{Header: http.Header{}})
		if got < base || got > base+base/4 {
			t.Errorf("attempt %d: %v, want %v plus at most 25%%", attempt, got, base)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		method string
		status int
		want   bool
	}{
		{"GET", 429, true}, {"GET", 500, true}, {"GET", 502, true}, {"GET", 501, false},
		{"GET", 400, false}, {"GET", 401, false}, {"GET", 403, false}, {"GET", 404, false}, {"GET", 200, false},
		{"PUT", 503, true}, {"POST", 429, true}, {"POST", 502, false},
	} {
		if got := retryable(tc.method, tc.status); got != tc.want {
			t.Errorf("retryable(%s, %d) = %v", tc.method, tc.status, got)
		}
	}
}

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
		v  semver
	}{
		{"1.2.3", true, semver{1, 2, 3, ""}},
		{"v1.2.3", true, semver{1, 2, 3, ""}},
		{"1.2.3-rc.1+b5", true, semver{1, 2, 3, "rc.1"}},
		{"1.2", false, semver{}}, {"01.2.3", false, semver{}}, {"main", false, semver{}}, {"1.2.3-", false, semver{}},
	} {
		v, ok := parseSemver(tc.in)
		if ok != tc.ok || v != tc.v {
			t.Errorf("parseSemver(%q) = %v, %v", tc.in, v, ok)
		}
	}
	for in, ok := range map[string]bool{"1": true, "1.2": true, "1.2.3": false, "~latest": false, "main": false, "": false, "+1": false} {
		if _, got := parsePartial(in); got != ok {
			t.Errorf("parsePartial(%q) ok = %v", in, got)
		}
	}
}
