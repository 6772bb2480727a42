// Package awstest is a fake of the AWS STS query API for tests: it answers
// AssumeRoleWithWebIdentity and AssumeRole with the documented XML shapes,
// success and error alike, and can be scripted to fail, throttle or hang.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// Fault is one scripted answer.
type Fault struct {
	Status  int    // HTTP status
	Code    string // STS error code; empty with a 5xx means a bare body
	Message string
	Hang    bool // never answer (until the client gives up)
}

// Common faults, with the statuses STS uses. OK is a normal answer, for
// scripting a success before a fault.
var (
	OK           = Fault{}
	Unavailable  = Fault{Status: 503, Code: "ServiceUnavailable", Message: "Service is unavailable"}
	Throttling   = Fault{Status: 400, Code: "Throttling", Message: "Rate exceeded"}
	IDPComm      = Fault{Status: 400, Code: "IDPCommunicationError", Message: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"}
	AccessDenied = Fault{Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	NoProvider   = Fault{Status: 400, Code: "InvalidIdentityToken", Message: "No OpenIDConnect provider found in your account for https://gitlab.com"}
	BadAudience  = Fault{Status: 400, Code: "InvalidIdentityToken", Message: "Incorrect token audience"}
	Expired      = Fault{Status: 400, Code: "ExpiredTokenException", Message: "Token expired: current date/time 1732780000 must be before the expiration date/time 1732776400"}
)

// Request is what the fake received, minus nothing: tests check it.
type Request struct {
	Action        string
	Form          map[string]string
	Authorization string // SigV4 header of signed calls
}

// STS is the fake. Faults are consumed in order, one per request; after
// them every request succeeds.
type STS struct {
	URL string

	// Credentials returned on success; defaults are set by New.
	AccessKeyID, SecretAccessKey, SessionToken string
	Lifetime                                   time.Duration

	mu       sync.Mutex
	faults   []Fault
	requests []Request
}

func newSTS(faults []Fault) *STS {
	return &STS{
		AccessKeyID:     "ASIAFAKEKEYLESS00001",
		SecretAccessKey: "fake/secret/access/key/for/tests/only00",
		SessionToken:    "FwoGZXIvYXdzEFAKE//session/token/for/tests",
		Lifetime:        time.Hour,
		faults:          faults,
	}
}

// New starts a fake on loopback for the length of the test.
func New(t testing.TB, faults ...Fault) *STS {
	s := newSTS(faults)
	s.URL = exchangetest.Serve(t, s)
	return s
}

// NewTLS starts the fake behind TLS with a self-signed certificate and
// returns it with that certificate in PEM, for --ca-file tests.
func NewTLS(t testing.TB, faults ...Fault) (*STS, []byte) {
	s := newSTS(faults)
	var cert []byte
	s.URL, cert = exchangetest.ServeTLS(t, s)
	return s, cert
}

// Requests returns the requests received so far.
func (s *STS) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	req := Request{Action: r.PostForm.Get("Action"), Form: map[string]string{}, Authorization: r.Header.Get("Authorization")}
	for k := range r.PostForm {
		req.Form[k] = r.PostForm.Get(k)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var f *Fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()

	if f != nil && (f.Status != 0 || f.Hang) {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		writeError(w, *f)
		return
	}
	switch req.Action {
	case "AssumeRoleWithWebIdentity", "AssumeRole":
		s.writeCredentials(w, req)
	default:
		writeError(w, Fault{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version 2011-06-15", req.Action)})
	}
}

func (s *STS) writeCredentials(w http.ResponseWriter, req Request) {
	roleName := req.Form["RoleArn"]
	if i := strings.LastIndexByte(roleName, '/'); i >= 0 {
		roleName = roleName[i+1:]
	}
	session := req.Form["RoleSessionName"]
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <%[1]sResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/%[2]s/%[3]s</Arn>
      <AssumedRoleId>AROAFAKEKEYLESS:%[3]s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%[4]s</AccessKeyId>
      <SecretAccessKey>%[5]s</SecretAccessKey>
      <SessionToken>%[6]s</SessionToken>
      <Expiration>%[7]s</Expiration>
    </Credentials>
  </%[1]sResult>
  <ResponseMetadata><RequestId>fake-request-id</RequestId></ResponseMetadata>
</%[1]sResponse>`, req.Action, esc(roleName), esc(session), esc(s.AccessKeyID), esc(s.SecretAccessKey), esc(s.SessionToken),
		time.Now().Add(s.Lifetime).UTC().Format(time.RFC3339))
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func writeError(w http.ResponseWriter, f Fault) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "fake-error-id")
	w.WriteHeader(f.Status)
	if f.Code == "" {
		fmt.Fprint(w, "upstream error")
		return
	}
	kind := "Sender"
	if f.Status >= 500 {
		kind = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-error-id</RequestId></ErrorResponse>`, kind, f.Code, esc(f.Message))
}
