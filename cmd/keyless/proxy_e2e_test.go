package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
)

// connectProxy is a forward proxy that tunnels every CONNECT to target,
// whatever host the client asked for, and records what it was asked.
type connectProxy struct {
	target string
	mu     sync.Mutex
	asked  []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.asked = append(p.asked, r.Host)
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	go func() { io.Copy(up, buf); up.Close() }()
	io.Copy(conn, up)
	conn.Close()
}

// HTTPS_PROXY is honoured, and --ca-file applies to the endpoint behind it:
// the STS endpoint https://example.com is reached only through the proxy
// (example.com is in the test certificate and unreachable from here).
func TestE2EAWSThroughHTTPSProxy(t *testing.T) {
	p := e2e(t)
	sts, cert := awstest.NewTLS(t)
	proxy := &connectProxy{target: strings.TrimPrefix(sts.URL, "https://")}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, cert, 0o644)

	env := []string{"KEYLESS_ID_TOKEN=" + p.mint(t, ""), "HTTPS_PROXY=" + ps.URL}
	r := run(t, env, p.Bin, "aws", "--role-arn", "arn:aws:iam::123456789012:role/x", "--sts-endpoint", "https://example.com",
		"--ca-file", ca, "--format", "json", "--timeout", "20s")
	if r.Code != 0 || !strings.Contains(r.Stdout, sts.AccessKeyID) {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if len(proxy.asked) != 1 || proxy.asked[0] != "example.com:443" {
		t.Errorf("proxy was asked for %v", proxy.asked)
	}
	// NO_PROXY takes the endpoint off the proxy; then it is unreachable.
	r = run(t, append(env, "NO_PROXY=example.com"), p.Bin, "aws", "--role-arn", "arn:aws:iam::123456789012:role/x",
		"--sts-endpoint", "https://example.com", "--ca-file", ca, "--format", "json", "--timeout", "2s")
	if r.Code != 3 || len(proxy.asked) != 1 {
		t.Errorf("with NO_PROXY: exit %d, proxy asked %v", r.Code, proxy.asked)
	}
}
