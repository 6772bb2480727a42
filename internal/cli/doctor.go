package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// A doctor verdict: ok, a warning that does not fail the run, or a failure.
const (
	verdictOK   = "ok"
	verdictWarn = "warn"
	verdictFail = "FAIL"
	verdictInfo = "info"
)

type diagnosis struct {
	Verdict string `json:"verdict"`
	Check   string `json:"check"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// doctorFailedError ends keyless doctor with exit code 1 after the checks
// are printed.
type doctorFailedError struct{ n int }

func (e doctorFailedError) Error() string { return fmt.Sprintf("%d checks failed", e.n) }
func (e doctorFailedError) ExitCode() int { return ExitFindings }

func doctorCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "token-var", Usage: "check only the token in variable `NAME` (default: $KEYLESS_ID_TOKEN and every configured provider's)", EnvVars: []string{"KEYLESS_DOCTOR_TOKEN_VAR"}},
		&cli.StringFlag{Name: "token-file", Usage: "check the token in `FILE`", EnvVars: []string{"KEYLESS_DOCTOR_TOKEN_FILE"}},
		&cli.StringFlag{Name: "issuer", Usage: "the issuer `URL` trust is set up for (default: the token's iss)", EnvVars: []string{"KEYLESS_ISSUER"}},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "deadline for the issuer's discovery document and keys"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (a self-managed instance's private CA)", EnvVars: []string{"KEYLESS_CA_FILE"}},
	}
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the job's ID tokens, the issuer, the signature, audiences, lifetime and trust, a verdict line each",
		Description: "Run it in the job that fails (include a component and add 'keyless doctor' to its script), or with\n" +
			"--token-file outside one. It never prints a token. With the trust document a provider's exchange\n" +
			"would face (KEYLESS_AWS_TRUST_POLICY, KEYLESS_AZURE_FEDERATED_CREDENTIAL, KEYLESS_GCP_PROVIDER_FILE,\n" +
			"KEYLESS_VAULT_ROLE_FILE) it also evaluates that trust against the token. Exit code 1 when a check fails.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("doctor takes no arguments, got %q", c.Args().First())
			}
			format := c.String("format")
			if format != "text" && format != "json" {
				return usagef("--format %q: use text or json", format)
			}
			client, err := httpClient(env, c.String("ca-file"), 10*time.Second)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			d := doctor{env: env, client: client, issuer: strings.TrimSuffix(c.String("issuer"), "/")}
			d.run(ctx, c.String("token-var"), c.String("token-file"))
			failed := 0
			for _, r := range d.out {
				if r.Verdict == verdictFail {
					failed++
				}
			}
			if format == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"checks": d.out, "failed": failed}); err != nil {
					return err
				}
			} else {
				for _, r := range d.out {
					fmt.Fprintf(env.Stdout, "%-4s  %s: %s\n", r.Verdict, r.Check, r.Detail)
					if r.Fix != "" {
						fmt.Fprintf(env.Stdout, "      fix: %s\n", r.Fix)
					}
				}
			}
			if failed > 0 {
				return doctorFailedError{failed}
			}
			return nil
		},
	}
}

type doctor struct {
	env    Env
	client *http.Client
	issuer string
	out    []diagnosis
	// discovered caches each issuer's discovery check.
	discovered map[string]bool
}

func (d *doctor) add(verdict, check, detail, fix string) {
	d.out = append(d.out, diagnosis{verdict, check, detail, fix})
}

// tokenUse is a token variable and what uses it: a provider expecting an
// audience and, maybe, trust to evaluate.
type tokenUse struct {
	provider string // "" for the default variable
	audience string // expected aud; "" accepts any
	trustDoc string // trust document file for explain
}

// uses finds the token variables to check: the one named, or the default
// and each configured provider's (a component sets KEYLESS_<P>_TOKEN_VAR).
func (d *doctor) uses(named string) map[string][]tokenUse {
	get := d.env.Getenv
	out := map[string][]tokenUse{}
	if named != "" {
		out[named] = nil
	}
	for _, p := range providers {
		if get(p.configVar) == "" {
			continue
		}
		v := firstNonEmpty(get(p.tokenVarEnv), get("KEYLESS_TOKEN_VAR"), idtoken.DefaultVar)
		if named != "" && v != named {
			continue
		}
		u := tokenUse{provider: p.name}
		switch p.name {
		case "aws":
			u.audience, u.trustDoc = get("KEYLESS_AWS_AUDIENCE"), get("KEYLESS_AWS_TRUST_POLICY")
		case "azure":
			u.audience, u.trustDoc = firstNonEmpty(get("KEYLESS_AZURE_AUDIENCE"), azure.DefaultAudience), get("KEYLESS_AZURE_FEDERATED_CREDENTIAL")
		case "gcp":
			u.audience, u.trustDoc = get("KEYLESS_GCP_AUDIENCE"), get("KEYLESS_GCP_PROVIDER_FILE")
			if u.audience == "" {
				if pr, err := gcp.ParseProvider(get("KEYLESS_GCP_PROVIDER")); err == nil {
					u.audience = pr.Audience()
				}
			}
		case "vault":
			u.audience, u.trustDoc = get("KEYLESS_VAULT_AUDIENCE"), get("KEYLESS_VAULT_ROLE_FILE")
		}
		out[v] = append(out[v], u)
	}
	if len(out) == 0 {
		out[firstNonEmpty(get("KEYLESS_TOKEN_VAR"), idtoken.DefaultVar)] = nil
	}
	return out
}

func (d *doctor) run(ctx context.Context, tokenVar, tokenFile string) {
	if tokenFile != "" {
		d.checkToken(ctx, idtoken.Source{File: tokenFile, Getenv: d.env.Getenv}, "the token in "+tokenFile, d.uses(tokenVar)[tokenVar])
		return
	}
	uses := d.uses(tokenVar)
	vars := make([]string, 0, len(uses))
	for v := range uses {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	for _, v := range vars {
		d.checkToken(ctx, idtoken.Source{Var: v, Getenv: d.env.Getenv}, "$"+v, uses[v])
	}
}

func (d *doctor) checkToken(ctx context.Context, src idtoken.Source, name string, uses []tokenUse) {
	tok, err := idtoken.Load(src)
	if err != nil {
		var nt *idtoken.NoTokenError
		fix := "check the file or variable"
		if errors.As(err, &nt) {
			fix = "" // the error shows the id_tokens: to add
		}
		d.add(verdictFail, "token "+name, err.Error(), fix)
		return
	}
	cl := tok.Claims
	now := d.env.Now()
	d.add(verdictOK, "token "+name, fmt.Sprintf("decodes: iss %s, aud %s, sub %s", cl.Issuer, strings.Join(cl.Audience, ","), cl.Subject), "")

	// Lifetime, against what is left of the job.
	remaining := tok.Remaining(now)
	switch {
	case remaining <= 0:
		d.add(verdictFail, "lifetime "+name, fmt.Sprintf("expired %s ago", (-remaining).Round(time.Second)), "ID tokens live as long as the job's timeout: exchange it at the job's start, or re-run the job")
	default:
		detail := fmt.Sprintf("expires in %s", remaining.Round(time.Second))
		verdict, fix := verdictOK, ""
		if left, ok := jobTimeLeft(d.env.Getenv, now); ok {
			detail += fmt.Sprintf("; the job may run %s more (CI_JOB_TIMEOUT)", left.Round(time.Second))
			if remaining < left {
				verdict = verdictWarn
				fix = "a step after the token expires cannot exchange it: exchange early (keyless env in before_script) with long enough credentials, or shorten the job's timeout"
			}
		}
		d.add(verdict, "lifetime "+name, detail, fix)
	}

	// The issuer: its discovery document and keys, and the signature.
	iss := strings.TrimSuffix(cl.Issuer, "/")
	if d.issuer != "" && d.issuer != iss {
		d.add(verdictFail, "issuer "+name, fmt.Sprintf("the token's iss is %s, trust is set up for %s", cl.Issuer, d.issuer), "set trust up for "+cl.Issuer+": that is what the cloud compares")
	}
	if srv := strings.TrimSuffix(d.env.Getenv("CI_SERVER_URL"), "/"); srv != "" && srv != iss {
		d.add(verdictInfo, "issuer "+name, fmt.Sprintf("this instance issues tokens as %s, not CI_SERVER_URL %s (ci_id_tokens_issuer_url is set)", cl.Issuer, srv), "")
	}
	d.checkIssuer(ctx, iss)
	v := idtoken.Verifier{Issuer: iss, Client: d.client, Now: d.env.Now}
	if err := v.Verify(ctx, tok); err != nil {
		d.add(verdictFail, "signature "+name, err.Error(), "a token that does not verify is refused by every cloud: check that the issuer's keys are the instance's (a restored backup or a rotated signing key changes them)")
	} else {
		d.add(verdictOK, "signature "+name, "verified with the issuer's published keys", "")
	}

	// What uses the token.
	for _, u := range uses {
		check := "audience " + u.provider
		switch {
		case u.audience == "":
		case cl.Audience.Contains(u.audience):
			d.add(verdictOK, check, fmt.Sprintf("aud %s is what %s expects", u.audience, u.provider), "")
		default:
			d.add(verdictFail, check, fmt.Sprintf("aud is %s, %s expects %s", strings.Join(cl.Audience, ","), u.provider, u.audience), "set the job's id_tokens: "+strings.TrimPrefix(name, "$")+": aud: "+u.audience+" (the component's aud input)")
		}
		if u.trustDoc != "" {
			d.checkTrust(u, tok)
		}
	}
	prot := cl.RefProtected == "true"
	detail := fmt.Sprintf("%s %s is not protected: trust that requires a protected ref refuses this job", firstNonEmpty(cl.RefType, "ref"), cl.Ref)
	if prot {
		detail = fmt.Sprintf("%s %s is protected", firstNonEmpty(cl.RefType, "ref"), cl.Ref)
	}
	d.add(verdictInfo, "protected ref "+name, detail, "")
}

// checkTrust evaluates the trust document a provider's exchange would face.
func (d *doctor) checkTrust(u tokenUse, tok *idtoken.Token) {
	check := "trust " + u.provider
	p := policyByName(u.provider)
	if p == nil {
		d.add(verdictWarn, check, "cannot evaluate "+u.trustDoc+": "+policySlimNote, "")
		return
	}
	doc, err := readSmallFile(u.trustDoc, 1<<20)
	if err != nil {
		d.add(verdictFail, check, err.Error(), "point the variable at the trust document, or unset it")
		return
	}
	res, err := p.Explain(doc, tokenClaims(tok))
	if err != nil {
		d.add(verdictFail, check, u.trustDoc+": "+err.Error(), "")
		return
	}
	if res.Admitted {
		d.add(verdictOK, check, u.trustDoc+" admits the token: "+res.Verdict, "")
		return
	}
	for _, ch := range res.Checks {
		if !ch.Held && strings.Contains(ch.Claim+ch.Test, "ref_protected") && tok.Claims.RefProtected != "true" {
			d.add(verdictFail, "protected ref "+u.provider, fmt.Sprintf("%s requires a protected ref; %s is not protected", u.trustDoc, tok.Claims.Ref), "run the job on a protected branch or tag, or protect "+tok.Claims.Ref+" (Settings > Repository)")
			break
		}
	}
	d.add(verdictFail, check, u.trustDoc+" refuses the token: "+res.Verdict, res.Fix)
}

// checkIssuer fetches the issuer's discovery document and keys once.
func (d *doctor) checkIssuer(ctx context.Context, iss string) {
	if d.discovered == nil {
		d.discovered = map[string]bool{}
	}
	if _, done := d.discovered[iss]; done {
		return
	}
	d.discovered[iss] = true
	check := "discovery " + iss
	url := iss + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := d.getJSON(ctx, url, &doc); err != nil {
		d.add(verdictFail, check, err.Error(), "the clouds fetch this document to verify tokens: it must be reachable from the internet (or from the cloud's network) without authentication")
		return
	}
	if strings.TrimSuffix(doc.Issuer, "/") != iss {
		d.add(verdictFail, check, fmt.Sprintf("%s says issuer %q, the token says %q", url, doc.Issuer, iss), "the clouds refuse a token whose iss differs from its issuer's discovery document: set ci_id_tokens_issuer_url (or the instance's external_url) to the URL the clouds reach")
		return
	}
	d.add(verdictOK, check, url+" is reachable and names the token's issuer", "")
	var keys struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := d.getJSON(ctx, doc.JWKSURI, &keys); err != nil {
		d.add(verdictFail, "keys "+iss, err.Error(), "the clouds fetch the signing keys from jwks_uri: it must be reachable without authentication")
		return
	}
	if len(keys.Keys) == 0 {
		d.add(verdictFail, "keys "+iss, doc.JWKSURI+" lists no keys", "")
		return
	}
	d.add(verdictOK, "keys "+iss, fmt.Sprintf("%s lists %d keys", doc.JWKSURI, len(keys.Keys)), "")
}

func (d *doctor) getJSON(ctx context.Context, url string, v any) error {
	if url == "" {
		return errors.New("no URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return nil
}

// jobTimeLeft is what is left of the job's timeout, from CI_JOB_STARTED_AT
// and CI_JOB_TIMEOUT (seconds), when GitLab set both.
func jobTimeLeft(getenv func(string) string, now time.Time) (time.Duration, bool) {
	secs, err := strconv.Atoi(getenv("CI_JOB_TIMEOUT"))
	if err != nil || secs <= 0 {
		return 0, false
	}
	started, err := time.Parse(time.RFC3339, getenv("CI_JOB_STARTED_AT"))
	if err != nil {
		return time.Duration(secs) * time.Second, true
	}
	left := started.Add(time.Duration(secs) * time.Second).Sub(now)
	if left < 0 {
		left = 0
	}
	return left, true
}
