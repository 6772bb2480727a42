// Package doctor checks what a job's credential exchange depends on, one
// verdict each: the ID token decodes, lives long enough for the job, its
// issuer's discovery document and keys are reachable, its signature
// verifies, and each configured provider's audience and trust document
// admit it. It knows nothing of flags and prints nothing: keyless doctor
// (internal/cli) fills Options and renders the Report (issue 14).
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Status is a verdict's outcome.
type Status string

const (
	OK   Status = "ok"
	Info Status = "info" // worth knowing, never a failure
	Warn Status = "warn" // may fail the job later; does not fail the run
	Fail Status = "FAIL"
)

// Verdict is the outcome of one check.
type Verdict struct {
	Status Status
	Check  string // what was checked: "signature $AWS_ID_TOKEN"
	Detail string
	Fix    string // what to do; "" when there is nothing to do or the detail says it
}

// Report is every verdict, in the order the checks ran.
type Report struct {
	Verdicts []Verdict
}

// Failed counts the Fail verdicts.
func (r Report) Failed() int {
	n := 0
	for _, v := range r.Verdicts {
		if v.Status == Fail {
			n++
		}
	}
	return n
}

// Provider is a configured exchange as it would run: the token variable it
// reads, the audience it expects and the trust document it would face.
type Provider struct {
	Name     string // "aws"
	TokenVar string // the variable its token is read from
	Audience string // the aud it expects; "" accepts any
	TrustDoc string // path of the trust document to evaluate; "" none
	// Explain evaluates the trust document against the token; nil when
	// this build cannot, and TrustNote says why.
	Explain   func(doc []byte, tok *idtoken.Token) (*policy.Result, error)
	TrustNote string
	// Err, when set, is why the provider's configuration could not be
	// read: a Fail verdict, and its token is not checked for it.
	Err error
}

// maxTrustDoc bounds a trust document read: they are a few KiB.
const maxTrustDoc = 1 << 20

// Options says which tokens to check and against what.
type Options struct {
	// TokenVar checks only the token in this variable (and the providers
	// that read it); "" checks DefaultTokenVar and every provider's.
	TokenVar string
	// TokenFile checks the token in this file instead.
	TokenFile string
	// DefaultTokenVar is read when no provider is configured.
	DefaultTokenVar string
	// Issuer is the issuer URL trust is set up for; "" takes the token's.
	Issuer    string
	Providers []Provider

	Client   *http.Client                 // for discovery and keys; the default client when nil
	Now      func() time.Time             // time.Now when nil
	Getenv   func(string) string          // the job's variables; os.Getenv when nil
	ReadFile func(string) ([]byte, error) // token and trust files; os.ReadFile when nil
	// NpmVersion returns `npm --version`, "" when npm is not on PATH; nil
	// skips the npm check (issue 18).
	NpmVersion func() string
}

// Run runs every check. It returns when they are done or ctx ends; a
// check that could not finish is a Fail verdict, never an error.
func Run(ctx context.Context, o Options) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.DefaultTokenVar == "" {
		o.DefaultTokenVar = idtoken.DefaultVar
	}
	o.Issuer = strings.TrimSuffix(o.Issuer, "/")
	r := &run{o: o, discovered: map[string]*idtoken.Discovery{}}
	for _, p := range o.Providers {
		if p.Err != nil {
			r.add(Fail, "config "+p.Name, p.Err.Error(), "")
		}
	}
	uses := r.uses()
	if o.TokenFile != "" {
		r.checkToken(ctx, idtoken.Source{File: o.TokenFile, Getenv: o.Getenv, ReadFile: o.ReadFile}, "the token in "+o.TokenFile, uses[o.TokenVar])
		return r.report
	}
	vars := make([]string, 0, len(uses))
	for v := range uses {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	for _, v := range vars {
		r.checkToken(ctx, idtoken.Source{Var: v, Getenv: o.Getenv}, "$"+v, uses[v])
	}
	r.npmCase()
	return r.report
}

type run struct {
	o      Options
	report Report
	// discovered holds each issuer's discovery document, checked once; nil
	// when it could not be fetched.
	discovered map[string]*idtoken.Discovery
}

func (r *run) add(s Status, check, detail, fix string) {
	r.report.Verdicts = append(r.report.Verdicts, Verdict{s, check, detail, fix})
}

// uses maps each token variable to check to the providers that read it:
// the one named, or each configured provider's, else the default.
func (r *run) uses() map[string][]Provider {
	named := r.o.TokenVar
	out := map[string][]Provider{}
	if named != "" {
		out[named] = nil
	}
	for _, p := range r.o.Providers {
		if p.Err != nil {
			continue
		}
		v := p.TokenVar
		if v == "" {
			v = idtoken.DefaultVar
		}
		if named != "" && v != named {
			continue
		}
		out[v] = append(out[v], p)
	}
	if len(out) == 0 {
		out[r.o.DefaultTokenVar] = nil
	}
	return out
}

func (r *run) checkToken(ctx context.Context, src idtoken.Source, name string, uses []Provider) {
	tok, err := idtoken.Load(src)
	if err != nil {
		var nt *idtoken.NoTokenError
		fix := "check the file or variable"
		if errors.As(err, &nt) {
			fix = "" // the error shows the id_tokens: to add
		}
		r.add(Fail, "token "+name, err.Error(), fix)
		return
	}
	cl := tok.Claims
	r.add(OK, "token "+name, fmt.Sprintf("decodes: iss %s, aud %s, sub %s", cl.Issuer, strings.Join(cl.Audience, ","), cl.Subject), "")
	r.checkLifetime(tok, name)

	// The issuer: its discovery document and keys, and the signature.
	iss := strings.TrimSuffix(cl.Issuer, "/")
	if r.o.Issuer != "" && r.o.Issuer != iss {
		r.add(Fail, "issuer "+name, fmt.Sprintf("the token's iss is %s, trust is set up for %s", cl.Issuer, r.o.Issuer), "set trust up for "+cl.Issuer+": that is what the cloud compares")
	}
	if srv := strings.TrimSuffix(r.o.Getenv("CI_SERVER_URL"), "/"); srv != "" && srv != iss {
		r.add(Info, "issuer "+name, fmt.Sprintf("this instance issues tokens as %s, not CI_SERVER_URL %s (ci_id_tokens_issuer_url is set)", cl.Issuer, srv), "")
	}
	disc := r.checkIssuer(ctx, iss)
	v := idtoken.Verifier{Issuer: iss, Client: r.o.Client, Now: r.o.Now, Discovery: disc}
	if err := v.Verify(ctx, tok); err != nil {
		r.add(Fail, "signature "+name, err.Error(), "a token that does not verify is refused by every cloud: check that the issuer's keys are the instance's (a restored backup or a rotated signing key changes them)")
	} else {
		r.add(OK, "signature "+name, "verified with the issuer's published keys", "")
	}

	// What uses the token.
	for _, p := range uses {
		check := "audience " + p.Name
		switch {
		case p.Audience == "":
		case cl.Audience.Contains(p.Audience):
			r.add(OK, check, fmt.Sprintf("aud %s is what %s expects", p.Audience, p.Name), "")
		default:
			r.add(Fail, check, fmt.Sprintf("aud is %s, %s expects %s", strings.Join(cl.Audience, ","), p.Name, p.Audience), "set the job's id_tokens: "+strings.TrimPrefix(name, "$")+": aud: "+p.Audience+" (the component's aud input)")
		}
		if p.TrustDoc != "" {
			r.checkTrust(p, tok)
		}
	}
	refType := cl.RefType
	if refType == "" {
		refType = "ref"
	}
	detail := fmt.Sprintf("%s %s is not protected: trust that requires a protected ref refuses this job", refType, cl.Ref)
	if cl.RefProtected == "true" {
		detail = fmt.Sprintf("%s %s is protected", refType, cl.Ref)
	}
	r.add(Info, "protected ref "+name, detail, "")
}

// checkLifetime compares the token's lifetime with what is left of the
// job: a token that expires before GitLab could stop the job leaves the
// steps after it unable to exchange. The job's end is idtoken.JobDeadline,
// as for the exchanges' lifetime warning.
func (r *run) checkLifetime(tok *idtoken.Token, name string) {
	now := r.o.Now()
	remaining := tok.Remaining(now)
	if remaining <= 0 {
		r.add(Fail, "lifetime "+name, fmt.Sprintf("expired %s ago", (-remaining).Round(time.Second)), "ID tokens live as long as the job's timeout: exchange it at the job's start, or re-run the job")
		return
	}
	detail := fmt.Sprintf("expires in %s", remaining.Round(time.Second))
	status, fix := OK, ""
	if deadline, ok := idtoken.JobDeadline(r.o.Getenv); ok {
		left := max(deadline.Sub(now), 0)
		detail += fmt.Sprintf("; the job may run %s more (CI_JOB_TIMEOUT)", left.Round(time.Second))
		if tok.Claims.ExpiresAt.Before(deadline) {
			status = Warn
			fix = "a step after the token expires cannot exchange it: exchange early (keyless env in before_script) with long enough credentials, or shorten the job's timeout"
		}
	}
	r.add(status, "lifetime "+name, detail, fix)
}

// checkIssuer fetches the issuer's discovery document and keys, once per
// issuer. It returns the document for Verify, nil when it failed.
func (r *run) checkIssuer(ctx context.Context, iss string) *idtoken.Discovery {
	if d, done := r.discovered[iss]; done {
		return d
	}
	r.discovered[iss] = nil
	check := "discovery " + iss
	d, err := idtoken.Discover(ctx, r.o.Client, iss)
	var mm *idtoken.IssuerMismatchError
	switch {
	case errors.As(err, &mm):
		r.add(Fail, check, fmt.Sprintf("%s says issuer %q, the token says %q", mm.URL, mm.Discovered, iss), "the clouds refuse a token whose iss differs from its issuer's discovery document: set ci_id_tokens_issuer_url (or the instance's external_url) to the URL the clouds reach")
		return nil
	case err != nil:
		r.add(Fail, check, err.Error(), "the clouds fetch this document to verify tokens: it must be reachable from the internet (or from the cloud's network) without authentication")
		return nil
	}
	r.add(OK, check, d.URL+" is reachable and names the token's issuer", "")
	n, err := d.Keys(ctx)
	switch {
	case err != nil:
		r.add(Fail, "keys "+iss, err.Error(), "the clouds fetch the signing keys from jwks_uri: it must be reachable without authentication")
	case n == 0:
		r.add(Fail, "keys "+iss, d.JWKSURI+" lists no keys", "")
	default:
		r.add(OK, "keys "+iss, fmt.Sprintf("%s lists %d keys", d.JWKSURI, n), "")
	}
	r.discovered[iss] = d
	return d
}

// checkTrust evaluates the trust document p's exchange would face.
func (r *run) checkTrust(p Provider, tok *idtoken.Token) {
	check := "trust " + p.Name
	if p.Explain == nil {
		r.add(Warn, check, "cannot evaluate "+p.TrustDoc+": "+p.TrustNote, "")
		return
	}
	doc, err := r.o.ReadFile(p.TrustDoc)
	if err == nil && len(doc) > maxTrustDoc {
		err = fmt.Errorf("%s is larger than %d bytes", p.TrustDoc, maxTrustDoc)
	}
	if err != nil {
		r.add(Fail, check, err.Error(), "point the variable at the trust document, or unset it")
		return
	}
	res, err := p.Explain(doc, tok)
	if err != nil {
		r.add(Fail, check, p.TrustDoc+": "+err.Error(), "")
		return
	}
	if res.Admitted {
		r.add(OK, check, p.TrustDoc+" admits the token: "+res.Verdict, "")
		return
	}
	for _, ch := range res.Checks {
		if !ch.Held && strings.Contains(ch.Claim+ch.Test, "ref_protected") && tok.Claims.RefProtected != "true" {
			r.add(Fail, "protected ref "+p.Name, fmt.Sprintf("%s requires a protected ref; %s is not protected", p.TrustDoc, tok.Claims.Ref), "run the job on a protected branch or tag, or protect "+tok.Claims.Ref+" (Settings > Repository)")
			break
		}
	}
	r.add(Fail, check, p.TrustDoc+" refuses the token: "+res.Verdict, res.Fix)
}
