// Command keyless-test-issuer runs oidctest's GitLab-shaped issuer as a
// process for end-to-end scripts and `make demo`. It listens on loopback
// only, prints its URL on the first line of stdout (and to -url-file), and
// mints tokens at /-/mint. It is a test tool: never expose it.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	urlFile := flag.String("url-file", "", "also write the issuer URL to this file")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || !(host == "127.0.0.1" || host == "localhost" || host == "::1") {
		fmt.Fprintln(os.Stderr, "keyless-test-issuer: -addr must be a loopback address such as 127.0.0.1:0")
		os.Exit(2)
	}
	iss, err := oidctest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyless-test-issuer:", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyless-test-issuer:", err)
		os.Exit(1)
	}
	iss.URL = "http://" + l.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/", iss.Handler())
	mux.Handle(oidctest.MintPath, iss.MintHandler())
	mux.Handle("/-/rotate", iss.RotateHandler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	fmt.Println(iss.URL)
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(strings.TrimSpace(iss.URL)+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "keyless-test-issuer:", err)
			os.Exit(1)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Close()
}
