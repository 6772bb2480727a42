package gcp

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of rejection; test with errors.Is.
var (
	ErrAttributeCondition = errors.New("rejected by the attribute condition")
	ErrPermissionDenied   = errors.New("impersonation denied")
	ErrNoServiceAccount   = errors.New("service account not found")
	ErrAudience           = errors.New("audience not accepted")
	ErrIssuer             = errors.New("issuer not accepted")
	ErrSubjectTooLong     = errors.New("mapped google.subject too long")
	ErrTokenExpired       = errors.New("token expired")
	ErrInvalidToken       = errors.New("token rejected")
	ErrUnreachable        = errors.New("Google could not reach the issuer")
	ErrNoProvider         = errors.New("no such provider")
	ErrInvalidInput       = errors.New("request rejected as invalid")
)

// The failures every provider shares, under the names callers know.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrTimeout     = exchange.ErrTimeout
	ErrUnavailable = exchange.ErrUnavailable
	ErrTLS         = exchange.ErrTLS
	ErrConnection  = exchange.ErrConnection
	ErrRedirect    = exchange.ErrRedirect
)

type step int

const (
	stepSTS step = iota
	stepImpersonate
)

// Error is a failed exchange, explained. Its message never contains the
// token or an access token: remote messages are scrubbed of anything that
// looks like either, and project numbers are masked.
type Error struct {
	exchange.Failure     // Kind (one of the sentinels), Attempts, Message
	Status           int // HTTP status, 0 for a transport failure
	Code             string
	// Impersonation is true when STS federated the token and
	// generateAccessToken failed.
	Impersonation  bool
	Provider       Provider
	ServiceAccount string
	Delegates      []string
	Endpoint       string // a custom endpoint of the failed call, if any
	Claims         idtoken.Claims
	fields         []idtoken.Field
}

var (
	// googleTok is the shape of a Google OAuth 2.0 access token, which
	// the shared scrubber does not know.
	googleTok  = lazyre.New(`ya29\.[A-Za-z0-9_.-]+`)
	issuerText = lazyre.New(`The issuer in ID Token (\S*) does not match the expected (?:ones|one in config|one)(?::\s*(\S+))?`)
)

// scrubMessage is the shared scrubber, then Google's access tokens, then
// project numbers masked.
func scrubMessage(msg string, tok secret.Token) string {
	msg = secret.ScrubString(msg, tok)
	msg = googleTok().ReplaceAllString(msg, secret.Redacted)
	return maskProjectNumbers(msg)
}

// parseBody reads both error shapes: STS answers as an OAuth 2.0 server,
// {"error": "invalid_grant", "error_description": "..."} (RFC 6749 §5.2);
// IAM Credentials, like every Google API, answers
// {"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}.
func parseBody(b []byte) (code, message string) {
	var oauth struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(b, &oauth) != nil || len(oauth.Error) == 0 {
		return "", ""
	}
	var s string
	if json.Unmarshal(oauth.Error, &s) == nil {
		return s, oauth.Description
	}
	var g struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	}
	if json.Unmarshal(oauth.Error, &g) == nil {
		return g.Status, g.Message
	}
	return "", ""
}

func newError(s step, err error, o Options, p Provider, tok *idtoken.Token, attempts int) *Error {
	e := &Error{
		Failure:        exchange.NewFailure(err, attempts),
		Impersonation:  s == stepImpersonate,
		Provider:       p,
		ServiceAccount: o.ServiceAccount,
		Delegates:      o.Delegates,
		Claims:         tok.Claims,
		fields:         tok.SafeFields(time.Now()),
	}
	for i := range e.fields {
		// The aud of a federation token names the provider.
		e.fields[i].Value = maskProjectNumbers(e.fields[i].Value)
	}
	e.Endpoint = o.STSEndpoint
	if s == stepImpersonate {
		e.Endpoint = o.IAMEndpoint
	}
	var ce *callError
	switch {
	case e.Transport(err):
	case errors.Is(err, errNoToken):
		e.Message = "the response has no access token"
	case errors.As(err, &ce) && ce.malformed:
		e.Message = "the response is not the JSON the API returns"
	case errors.As(err, &ce) && ce.status != 0:
		e.Status = ce.status
		code, msg := parseBody(ce.body)
		e.Code = code
		e.Message = scrubMessage(msg, tok.Raw)
		e.Kind = classify(s, ce.status, code, msg)
	case errors.As(err, &ce) && ce.err != nil:
		// A transport error: its text names the host and the failure.
		e.Kind = ErrConnection
		e.Message = scrubMessage(ce.err.Error(), tok.Raw)
	default:
		e.Message = scrubMessage(err.Error(), tok.Raw)
	}
	return e
}

func classify(s step, status int, code, msg string) error {
	lower := strings.ToLower(msg)
	switch {
	case status == http.StatusTooManyRequests || code == "quota_exceeded" || code == "RESOURCE_EXHAUSTED":
		return ErrThrottled
	case status >= 500:
		return ErrUnavailable
	case s == stepImpersonate:
		switch {
		case status == http.StatusForbidden || code == "PERMISSION_DENIED":
			return ErrPermissionDenied
		case status == http.StatusNotFound || code == "NOT_FOUND":
			return ErrNoServiceAccount
		}
		return ErrInvalidInput
	case code == "unauthorized_client" || strings.Contains(lower, "attribute condition"):
		return ErrAttributeCondition
	case strings.Contains(lower, "audience in id token"):
		return ErrAudience
	case strings.Contains(lower, "issuer in id token"):
		return ErrIssuer
	case strings.Contains(lower, "127 bytes"):
		return ErrSubjectTooLong
	case strings.Contains(lower, "stale to sign-in") || strings.Contains(lower, "expired"):
		return ErrTokenExpired
	case strings.Contains(lower, "error connecting to the given credential's issuer"):
		return ErrUnreachable
	case code == "invalid_target":
		return ErrNoProvider
	case code == "invalid_grant":
		return ErrInvalidToken
	}
	return ErrInvalidInput
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	var b strings.Builder
	if e.Impersonation {
		fmt.Fprintf(&b, "gcp: IAM Credentials generateAccessToken for %s failed", e.ServiceAccount)
	} else {
		fmt.Fprintf(&b, "gcp: STS token exchange for %s failed", e.Provider.Masked())
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSpace(e.Message))
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	b.WriteString("\n\n")
	b.WriteString(e.explain())
	exchange.WriteClaims(&b, "Google", e.fields)
	return strings.TrimRight(b.String(), "\n")
}

// gcloudProvider is the gcloud flags that name the provider.
func (e *Error) gcloudProvider() string {
	return fmt.Sprintf("%s --workload-identity-pool=%s --location=global", e.Provider.ID, e.Provider.Pool)
}

func (e *Error) explain() string {
	c := e.Claims
	p := e.Provider
	switch e.Kind {
	case ErrAttributeCondition:
		return fmt.Sprintf("The provider's attribute condition does not admit this job. It is a CEL expression over the\n"+
			"token's claims (assertion.*) and the mapped attributes; see it with\n\n"+
			"  gcloud iam workload-identity-pools providers describe %s --format='value(attributeCondition)'\n\n"+
			"A condition that admits this project's jobs, and only those of protected refs:\n\n"+
			"  assertion.project_path == %q && assertion.ref_protected == \"true\"\n\n"+
			"This job is ref %q (%s, protected: %s) of project %q (id %s). Every attribute the condition\n"+
			"uses must be mapped (--attribute-mapping), and claim values are case-sensitive strings.\n",
			e.gcloudProvider(), c.ProjectPath, c.Ref, cmp.Or(c.RefType, "?"), cmp.Or(c.RefProtected, "?"), c.ProjectPath, cmp.Or(c.ProjectID, "?"))
	case ErrPermissionDenied:
		var b strings.Builder
		fmt.Fprintf(&b, "STS accepted the token, but the pool's identity for this job may not impersonate\n"+
			"%s. Grant it roles/iam.workloadIdentityUser on the service account, either for exactly\n"+
			"this job's subject (with the mapping google.subject=assertion.sub):\n\n"+
			"  gcloud iam service-accounts add-iam-policy-binding %s \\\n"+
			"    --role=roles/iam.workloadIdentityUser \\\n"+
			"    --member=%q\n\n"+
			"or for every job of the project (map attribute.project_path=assertion.project_path first):\n\n"+
			"    --member=%q\n\n"+
			"PROJECT_NUMBER is the number in %s (%s). New bindings take a few minutes to apply.\n",
			e.ServiceAccount, e.ServiceAccount, p.PrincipalSubject(c.Subject), p.PrincipalSetAttribute("project_path", c.ProjectPath), option.Ref(OptProvider), exchange.MaskID(p.ProjectNumber))
		if len(e.Delegates) > 0 {
			b.WriteString("With " + option.Ref(OptDelegates) + ", each account in the chain also needs roles/iam.serviceAccountTokenCreator on the next.\n")
		}
		return b.String()
	case ErrNoServiceAccount:
		return fmt.Sprintf("IAM Credentials knows no service account %s. Check the email (%s) with\n"+
			"gcloud iam service-accounts list --project=PROJECT_ID; a deleted account stays unusable even if one of\n"+
			"the same name is created again (undelete it, or grant the new one).\n", e.ServiceAccount, option.Ref(OptServiceAccount))
	case ErrAudience:
		return fmt.Sprintf("STS does not accept the token's audience %q. A provider with no allowed audiences accepts\n"+
			"only its own name,\n\n  %s\n\n"+
			"(or its https: form; PROJECT_NUMBER is the number in %s, %s); a provider with allowed\n"+
			"audiences accepts only those. Request that audience in the job's id_tokens (the gcp component does),\n"+
			"or add the token's audience to the provider:\n\n"+
			"  gcloud iam workload-identity-pools providers update-oidc %s --allowed-audiences=%s\n",
			strings.Join(c.Audience, ","), p.audienceTemplate(), option.Ref(OptProvider), exchange.MaskID(p.ProjectNumber), e.gcloudProvider(), strings.Join(c.Audience, ","))
	case ErrIssuer:
		got, want := c.Issuer, ""
		if m := issuerText().FindStringSubmatch(e.Message); m != nil {
			want = strings.TrimSuffix(m[2], ".")
		}
		fix := fmt.Sprintf("  gcloud iam workload-identity-pools providers update-oidc %s --issuer-uri=%s\n", e.gcloudProvider(), got)
		switch {
		case want != "" && strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
			return fmt.Sprintf("The provider's issuer URI %s and the token's iss %s differ only in the trailing slash,\n"+
				"and Google compares them exactly. GitLab's iss has no trailing slash; set the provider's to it:\n\n%s",
				want, got, fix)
		case want != "":
			return fmt.Sprintf("The provider expects tokens from %s, but this token's iss is %s. The issuer URI must\n"+
				"equal the iss exactly (for self-managed GitLab, the instance's URL without a trailing slash):\n\n%s",
				want, got, fix)
		}
		return fmt.Sprintf("The provider's issuer URI is not this token's iss %s. It must be equal exactly (no trailing\n"+
			"slash; for self-managed GitLab, the instance's URL):\n\n%s", got, fix)
	case ErrSubjectTooLong:
		return subjectFix(p, c, fmt.Sprintf("The provider maps google.subject from a claim longer than Google's limit of %d bytes:\n"+
			"this token's sub is %d bytes.", MaxSubjectBytes, len(c.Subject)))
	case ErrTokenExpired:
		return "STS considers the ID token expired (it allows about a minute of clock skew). GitLab's ID tokens\n" +
			"live as long as the job's timeout; exchange early in the job, and check the runner's clock.\n"
	case ErrInvalidToken:
		return "STS could not verify the ID token's signature against the keys it has for the issuer. Check that\n" +
			"the token is the one GitLab put in the job and, if the provider has uploaded keys (--jwk-json-path),\n" +
			"that they are GitLab's current ones (" + strings.TrimSuffix(c.Issuer, "/") + "/oauth/discovery/keys).\n"
	case ErrUnreachable:
		return fmt.Sprintf("Google could not fetch the issuer's keys from %s/.well-known/openid-configuration and its\n"+
			"jwks_uri, or found none matching the token's key id. Google must reach the issuer over the public\n"+
			"internet: a self-managed GitLab that it cannot reach needs its keys uploaded to the provider instead\n"+
			"(gcloud iam workload-identity-pools providers update-oidc %s --jwk-json-path=keys.json,\n"+
			"with keys.json from %s/oauth/discovery/keys).\n",
			strings.TrimSuffix(c.Issuer, "/"), e.gcloudProvider(), strings.TrimSuffix(c.Issuer, "/"))
	case ErrNoProvider:
		return fmt.Sprintf("STS knows no enabled provider %s. Check the project number\n"+
			"(not the project id), the pool and provider ids, and that neither is disabled or deleted:\n\n"+
			"  gcloud iam workload-identity-pools providers describe %s --project=PROJECT_NUMBER\n",
			p.Masked(), e.gcloudProvider())
	case ErrThrottled:
		return fmt.Sprintf("Google throttled the request (quota sts.googleapis.com/requests or iamcredentials)\n"+
			"%s. Raise %s, or spread concurrent jobs.\n", exchange.RetryOutcome(e.Attempts), option.Ref(exchange.OptTimeout))
	case ErrTimeout:
		where := "Google"
		if e.Endpoint != "" {
			where = e.Endpoint
		}
		timeout := option.Ref(exchange.OptTimeout)
		return fmt.Sprintf("%s did not answer before the deadline (%s). Check the network path from the\n"+
			"runner (HTTPS_PROXY, NO_PROXY, Private Service Connect with %s), or raise %s.\n", where, timeout, option.Ref(OptSTSEndpoint), timeout)
	case ErrInvalidInput:
		if e.Impersonation && strings.Contains(e.Message, "1 hour") {
			return "The service account may not have tokens longer than one hour. Lower " + option.Ref(OptLifetime) + " to 1h, or allow\n" +
				"up to 12h for it with the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension.\n"
		}
		if e.Impersonation {
			return fmt.Sprintf("IAM Credentials rejected the request; the message above names the field at fault\n"+
				"(%s, %s, %s, %s).\n", option.Ref(OptServiceAccount), option.Ref(OptDelegates), option.Ref(OptScopes), option.Ref(OptLifetime))
		}
		return fmt.Sprintf("STS rejected the request; the message above names the parameter at fault (%s, %s).\n", option.Ref(OptProvider), option.Ref(OptScopes))
	case ErrConnection:
		where, check := "Google's STS (sts."+DefaultUniverse+")", option.Ref(OptSTSEndpoint)+" and "+option.Ref(OptUniverse)
		if e.Impersonation {
			where, check = "IAM Credentials (iamcredentials."+DefaultUniverse+")", option.Ref(OptIAMEndpoint)+" and "+option.Ref(OptUniverse)
		}
		if e.Endpoint != "" {
			where = e.Endpoint
		}
		return e.Net.Advice(where, check, e.Attempts)
	case ErrRedirect:
		return e.Redirect.Advice()
	case ErrTLS:
		return exchange.TLSAdvice("endpoint", OptCAFile)
	}
	where := "Google"
	if e.Endpoint != "" {
		where = e.Endpoint
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("%s failed %s; try again, or raise %s.\n", where, exchange.RetryOutcome(e.Attempts), option.Ref(exchange.OptTimeout))
	}
	return fmt.Sprintf("%s failed. Check that the endpoint is right and reachable, and try again.\n", where)
}

// subjectFix explains how to map google.subject to fewer bytes.
func subjectFix(p Provider, c idtoken.Claims, why string) string {
	return fmt.Sprintf("%s Map google.subject to a shorter claim, such as the project's id, and grant\n"+
		"access through attributes:\n\n"+
		"  gcloud iam workload-identity-pools providers update-oidc %s --workload-identity-pool=%s --location=global \\\n"+
		"    --attribute-mapping=google.subject=assertion.project_id,attribute.project_path=assertion.project_path,attribute.ref=assertion.ref\n\n"+
		"The job's principal is then %s,\n"+
		"and %s admits every job of the project.\n",
		why, p.ID, p.Pool, p.PrincipalSubject(cmp.Or(c.ProjectID, "PROJECT_ID")), p.PrincipalSetAttribute("project_path", c.ProjectPath))
}

// SubjectWarning is the pre-flight for Google's limit on google.subject:
// with the usual mapping google.subject=assertion.sub, a sub over 127 bytes
// is refused. keyless cannot see the provider's mapping, so it warns rather
// than refuses (a refusal is then explained in full); it returns "" when
// sub fits.
func SubjectWarning(c idtoken.Claims) string {
	if len(c.Subject) <= MaxSubjectBytes {
		return ""
	}
	return fmt.Sprintf("the token's sub is %d bytes, over Google's limit of %d for google.subject; if the provider maps "+
		"google.subject=assertion.sub, STS refuses it: map google.subject to a shorter claim, such as assertion.project_id\n",
		len(c.Subject), MaxSubjectBytes)
}
