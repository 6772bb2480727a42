package cli

import (
	"net/http"
	"testing"
)

// The proxy is the job's, from Env, with net/http's rules: HTTPS_PROXY for
// https, NO_PROXY's hosts and loopback direct.
func TestProxyIsTheJobs(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"HTTPS_PROXY": "http://proxy.example:3128", "no_proxy": "internal.example"}
	proxy := proxyFromEnv(Env{Getenv: func(k string) string { return vars[k] }})
	for url, want := range map[string]string{
		"https://sts.amazonaws.com/":      "http://proxy.example:3128",
		"http://sts.amazonaws.com/":       "",
		"https://vault.internal.example/": "",
		"https://127.0.0.1:8200/":         "",
	} {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := proxy(req)
		got := ""
		if u != nil {
			got = u.String()
		}
		if err != nil || got != want {
			t.Errorf("%s: proxy %q, %v; want %q", url, got, err, want)
		}
	}
}
