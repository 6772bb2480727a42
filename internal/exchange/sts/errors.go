package sts

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of failure; test with errors.Is. The OAuth error codes are
// those of RFC 6749 §5.2 and RFC 8693 §2.2.2.
var (
	ErrInvalidRequest     = errors.New("request rejected as invalid")             // invalid_request
	ErrInvalidClient      = errors.New("client authentication failed")            // invalid_client, HTTP 401
	ErrInvalidGrant       = errors.New("subject token rejected")                  // invalid_grant
	ErrUnauthorizedClient = errors.New("client may not use token exchange")       // unauthorized_client
	ErrUnsupportedGrant   = errors.New("token exchange not supported")            // unsupported_grant_type
	ErrInvalidScope       = errors.New("scope not allowed")                       // invalid_scope
	ErrInvalidTarget      = errors.New("audience or resource not allowed")        // invalid_target
	ErrAccessDenied       = errors.New("access denied")                           // access_denied, HTTP 403
	ErrRejected           = errors.New("exchange rejected")                       // another error code
	ErrBadEndpoint        = errors.New("not a token endpoint")                    // 404, 405, redirects, non-OAuth errors
	ErrBadResponse        = errors.New("token response does not follow RFC 8693") // 2xx without a usable token
)

// The failures every provider shares, under the names callers know.
var (
	ErrThrottled   = exchange.ErrThrottled   // HTTP 429, slow_down
	ErrTimeout     = exchange.ErrTimeout     // the deadline passed
	ErrUnavailable = exchange.ErrUnavailable // 5xx, connection failures
	ErrTLS         = exchange.ErrTLS         // --ca-file can help
)

var codeKinds = map[string]error{
	"invalid_request":         ErrInvalidRequest,
	"invalid_client":          ErrInvalidClient,
	"invalid_grant":           ErrInvalidGrant,
	"unauthorized_client":     ErrUnauthorizedClient,
	"unsupported_grant_type":  ErrUnsupportedGrant,
	"invalid_scope":           ErrInvalidScope,
	"invalid_target":          ErrInvalidTarget,
	"access_denied":           ErrAccessDenied,
	"slow_down":               ErrThrottled,
	"temporarily_unavailable": ErrUnavailable,
	"server_error":            ErrUnavailable,
}

// Error is a failed exchange, explained. Its message never contains the ID
// token, the client secret or an issued token: the server's words are
// scrubbed of them and of anything shaped like a JWT, and a successful
// answer is never quoted.
type Error struct {
	// Kind is one of the sentinels; Message the transport or TLS detail,
	// scrubbed.
	exchange.Failure
	Status      int // HTTP status; 0 when there was no answer
	Code        string
	Description string
	URI         string
	Location    string // where a redirect pointed
	RetryAfter  time.Duration
	TokenURL    string // DisplayURL of the endpoint

	req    Options
	claims idtoken.Claims
	fields []idtoken.Field
	why    string // what is wrong with a 2xx answer
}

func newError(f *failure, o Options, tok *idtoken.Token, attempts int) *Error {
	secrets := []secret.Token{tok.Raw, o.ClientSecret}
	e := &Error{
		Failure:  exchange.NewFailure(f.transport, attempts),
		Status:   f.status,
		TokenURL: DisplayURL(o.TokenURL),
		req:      o,
		claims:   tok.Claims,
		fields:   tok.SafeFields(time.Now()),
	}
	if f.hasRetry {
		e.RetryAfter = f.retryAfter
	}
	switch {
	case f.transport != nil:
		err := f.transport
		switch {
		case e.Net.Kind == exchange.NetCertificate:
			// Sanitized as every other text of the server's.
			e.Kind = ErrTLS
			var ce *tls.CertificateVerificationError
			if errors.As(err, &ce) {
				err = ce.Err
			}
			e.Message = exchange.Printable(secret.ScrubString(err.Error(), secrets...), 300)
		case e.Transport(err):
			// A redirect says the URL is not the token endpoint.
			if e.Redirect != nil {
				e.Kind, e.Location = ErrBadEndpoint, e.Redirect.Target
			}
		default:
			e.Message = exchange.Printable(secret.ScrubString(exchange.Cause(err).Error(), secrets...), 300)
		}
		return e
	case f.badBody != "":
		e.Kind, e.why = ErrBadResponse, f.badBody
		return e
	case f.location != "" || (f.status >= 300 && f.status < 400):
		e.Kind, e.Location = ErrBadEndpoint, f.location
		return e
	}
	e.Code = exchange.Printable(secret.ScrubString(f.code, secrets...), 64)
	e.Description = exchange.Printable(secret.ScrubString(f.description, secrets...), 400)
	e.URI = exchange.Printable(secret.ScrubString(f.uri, secrets...), 200)
	e.Kind = classify(f.status, f.code)
	return e
}

func classify(status int, code string) error {
	if k := exchange.StatusKind(status, ErrBadEndpoint); k != nil {
		return k
	}
	if k, ok := codeKinds[code]; ok {
		return k
	}
	switch {
	case status == 401:
		return ErrInvalidClient
	case status == 403:
		return ErrAccessDenied
	case code != "":
		return ErrRejected
	}
	// A token endpoint answers errors as RFC 6749 §5.2 JSON; a 404, 405 or
	// an HTML page comes from something else.
	return ErrBadEndpoint
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	advice := e.explain()
	if r := e.request(); r != "" {
		advice += "\nThe request (the ID token left out):\n" + r
	}
	h := exchange.Headline{What: fmt.Sprintf("sts: token exchange at %s failed", e.TokenURL), Status: e.Status, Code: e.Code,
		Description: e.Description, See: e.URI, Message: e.Message, Attempts: e.Attempts}
	return h.Text(advice, "the token server", e.fields)
}

// request lists the parameters that decide the outcome, for the kinds of
// failure where they matter.
func (e *Error) request() string {
	switch e.Kind {
	case ErrInvalidRequest, ErrInvalidGrant, ErrInvalidTarget, ErrInvalidScope, ErrAccessDenied, ErrRejected,
		ErrInvalidClient, ErrUnauthorizedClient:
	default:
		return ""
	}
	o := e.req
	fields := []idtoken.Field{
		{Name: "subject_token_type", Value: cmp.Or(ExpandTokenType(o.SubjectTokenType), DefaultSubjectTokenType)},
		{Name: "requested_token_type", Value: ExpandTokenType(o.RequestedTokenType)},
		{Name: "audience", Value: strings.Join(o.Audiences, " ")},
		{Name: "resource", Value: strings.Join(o.Resources, " ")},
		{Name: "scope", Value: strings.Join(strings.Fields(o.Scope), " ")},
		{Name: "client", Value: e.client()},
	}
	return idtoken.FormatFields("  ", fields)
}

// client describes the client authentication, with the id masked.
func (e *Error) client() string {
	o := e.req
	id := "no client_id"
	if o.ClientID != "" {
		id = "client_id " + exchange.MaskID(o.ClientID)
	}
	switch o.Auth {
	case AuthBasic:
		return fmt.Sprintf("%s, secret from %s (HTTP Basic)", id, cmp.Or(o.SecretSource, "a variable"))
	case AuthJWTBearer:
		return id + ", the ID token as a jwt-bearer client assertion"
	}
	return id + ", no client authentication"
}

func (e *Error) explain() string {
	c := e.claims
	o := e.req
	aud := strings.Join(c.Audience, ",")
	subjType := cmp.Or(ExpandTokenType(o.SubjectTokenType), DefaultSubjectTokenType)
	trust := fmt.Sprintf("Check that the server trusts tokens of the issuer %s (it must reach\n"+
		"%s/.well-known/openid-configuration and the keys it names), that it accepts\n"+
		"their audience %q (the job's id_tokens aud, the component's aud input) and the\n"+
		"subject_token_type %s (%s), and that its policy\n"+
		"admits the subject %q.\n",
		c.Issuer, strings.TrimSuffix(c.Issuer, "/"), aud, subjType, option.Ref(OptSubjectTokenType), c.Subject)
	timeout, tokenURL := option.Ref(exchange.OptTimeout), option.Ref(OptTokenURL)
	switch e.Kind {
	case ErrInvalidGrant:
		return "The token server rejected the job's ID token (the subject token).\n" + trust
	case ErrInvalidRequest:
		return "The token server found the request invalid. RFC 8693 §2.2.2 uses this code for a subject token\n" +
			"the server cannot accept, too: unless the description above names a parameter, check the ID token.\n" +
			trust +
			fmt.Sprintf("Otherwise check %s, %s, %s, %s and %s.\n", option.Ref(OptSubjectTokenType), option.Ref(OptRequestedTokenType),
				option.Ref(OptAudience), option.Ref(OptResource), option.Ref(OptScope))
	case ErrInvalidTarget:
		return fmt.Sprintf("The token server will not issue a token for the requested target (audience %s,\n"+
			"resource %s). Request a target the server allows for this client and subject\n"+
			"(%s, %s), or let its policy admit this job:\n"+
			"sub %q, project_path %q, ref %q.\n",
			orNone(o.Audiences), orNone(o.Resources), option.Ref(OptAudience), option.Ref(OptResource), c.Subject, c.ProjectPath, c.Ref)
	case ErrInvalidScope:
		return fmt.Sprintf("The token server refused the scope %q. Request only scopes this client may get for this\n"+
			"subject (%s), or leave %s out to get the server's default.\n", strings.Join(strings.Fields(o.Scope), " "), option.Ref(OptScope), option.Ref(OptScope))
	case ErrInvalidClient:
		switch o.Auth {
		case AuthBasic:
			return fmt.Sprintf("The token server did not accept the client credentials: client_id %s with the secret from %s,\n"+
				"sent with HTTP Basic (RFC 6749 §2.3.1). Check that they match the client registered on the server,\n"+
				"that the variable holds its current secret, and that the client may authenticate with client_secret_basic.\n",
				exchange.MaskID(o.ClientID), cmp.Or(o.SecretSource, "the variable"))
		case AuthJWTBearer:
			return fmt.Sprintf("The token server did not accept the job's ID token as a client assertion (RFC 7523). It must be\n"+
				"set up to authenticate the client with JWTs of the issuer %s for the subject %q and audience %q;\n"+
				"otherwise authenticate with %s and %s.\n", c.Issuer, c.Subject, aud, option.Ref(OptClientID), option.Ref(OptClientSecretEnv))
		}
		return fmt.Sprintf("The token server requires the client to authenticate. Pass %s and %s NAME\n"+
			"(NAME is a masked CI/CD variable holding the secret, sent with HTTP Basic), or %s\n"+
			"jwt-bearer if the server authenticates the client with the job's ID token.\n",
			option.Ref(OptClientID), option.Ref(OptClientSecretEnv), option.Ref(OptClientAssertionType))
	case ErrUnauthorizedClient:
		return fmt.Sprintf("The client (%s) is not allowed to use the token-exchange grant.\n"+
			"Allow the grant %s for this client on the server.\n", e.client(), GrantType)
	case ErrUnsupportedGrant:
		return fmt.Sprintf("The server at %s does not accept the token-exchange grant. Check that %s is the\n"+
			"token endpoint of a server that implements RFC 8693, and that token exchange is enabled there (some\n"+
			"servers ship it as an optional or preview feature).\n", e.TokenURL, tokenURL)
	case ErrAccessDenied:
		return "The token server's policy does not allow this exchange for this job. Compare the policy with the\n" +
			"claims below (sub, project_path, ref, ref_protected, environment) and the requested target.\n"
	case ErrRejected:
		return "The token server refused the exchange; its description above says why.\n"
	case ErrThrottled:
		s := fmt.Sprintf("The token server throttled the request %s. Raise %s,\n"+
			"or spread concurrent jobs that exchange tokens.\n", exchange.RetryOutcome(e.Attempts), timeout)
		if e.RetryAfter > 0 {
			s = fmt.Sprintf("The token server throttled the request and asked to retry after %s, beyond the deadline.\n"+
				"Raise %s, or spread concurrent jobs that exchange tokens.\n", e.RetryAfter, timeout)
		}
		return s
	case ErrTimeout:
		return exchange.TimeoutAdvice(e.TokenURL)
	case ErrTLS:
		return exchange.TLSAdvice("token endpoint", OptCAFile)
	case ErrBadEndpoint:
		if a, ok := e.RedirectAdvice(e.Status, e.Location, "server", tokenURL); ok {
			return a
		}
		return fmt.Sprintf("%s does not answer like an OAuth token endpoint (no RFC 6749 §5.2 error). Check\n"+
			"%s: the server's discovery document (/.well-known/openid-configuration or\n"+
			"/.well-known/oauth-authorization-server) names it as token_endpoint.\n", e.TokenURL, tokenURL)
	case ErrBadResponse:
		return fmt.Sprintf("The token server answered with success, but %s (RFC 8693 §2.2.1).\n"+
			"Check that %s is the token-exchange endpoint and what the server is configured to issue.\n", e.why, tokenURL)
	}
	if e.Status == 0 && e.Net.Kind != exchange.NetNone {
		return e.Net.Advice(e.TokenURL, tokenURL, e.Attempts)
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("%s failed %s; try again, or raise %s.\n", e.TokenURL, exchange.RetryOutcome(e.Attempts), timeout)
	}
	return fmt.Sprintf("%s failed; the message above says how. Check %s, and try again.\n", e.TokenURL, tokenURL)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
