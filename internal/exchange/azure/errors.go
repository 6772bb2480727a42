package azure

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of failure; test with errors.Is.
var (
	ErrNoMatch      = errors.New("no matching federated identity credential")
	ErrTokenTime    = errors.New("assertion not within its valid time range")
	ErrBlocked      = errors.New("sign-in blocked")
	ErrIssuer       = errors.New("Entra could not reach the issuer")
	ErrNoApp        = errors.New("application not found")
	ErrTenant       = errors.New("tenant not found")
	ErrScope        = errors.New("scope not valid")
	ErrInvalidToken = errors.New("token rejected")
	ErrRejected     = errors.New("request rejected")
	ErrEndpoint     = errors.New("not an Entra token endpoint")
)

// The failures every provider shares, under the names callers know.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrUnavailable = exchange.ErrUnavailable
	ErrTimeout     = exchange.ErrTimeout
	ErrTLS         = exchange.ErrTLS
	ErrConnection  = exchange.ErrConnection
	ErrRedirect    = exchange.ErrRedirect
)

// AADSTS codes keyless explains. Microsoft warns that codes and texts
// change; the explanations fall back to the generic ones for any other.
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes
const (
	codeNoMatch         = 70021   // no matching federated identity record (issuer, subject and audience in the text)
	codeNoMatchIssuer   = 700211  // ... for presented assertion issuer
	codeNoMatchAudience = 700212  // ... for presented assertion audience
	codeNoMatchSubject  = 700213  // ... for presented assertion subject
	codeSubjectCase     = 7002138 // ... subject matches only case-insensitively
	codeTokenTime       = 700024  // client assertion is not within its valid time range
	codeLocked          = 50053   // IdsLocked, or sign-in from a malicious IP: never retried
	codeIssuerMetadata  = 501661  // request to external OIDC endpoint failed
)

// Error is a failed exchange, explained. Its message never contains the
// token or a credential: remote messages are scrubbed of anything that
// looks like a JWT, and the client and tenant ids are masked.
type Error struct {
	exchange.Failure     // Kind (one of the sentinels), Attempts, Message
	Status           int // HTTP status, 0 without an answer
	OAuthError       string
	Code             int // the first AADSTS code, 0 when none
	TraceID          string
	CorrelationID    string
	ErrorURI         string
	RetryAfter       time.Duration
	ClientID         string
	TenantID         string
	AuthorityHost    string
	Scope            string
	Claims           idtoken.Claims
	fields           []idtoken.Field
}

var aadstsRE = lazyre.New(`^AADSTS(\d+)`)

// scrub is the shared scrubber, then the client and tenant ids Entra
// quotes back masked.
func scrub(msg string, tok secret.Token, ids ...string) string {
	msg = secret.ScrubString(msg, tok)
	for _, id := range ids {
		if len(id) > 4 {
			msg = strings.ReplaceAll(msg, id, MaskID(id))
		}
	}
	return msg
}

// firstPart cuts Entra's description before its Trace ID, Correlation ID
// and Timestamp lines, which Error shows separately.
func firstPart(desc string) string {
	if i := strings.Index(desc, "Trace ID:"); i >= 0 {
		desc = desc[:i]
	}
	desc = strings.ReplaceAll(desc, "\r\n", " ")
	return strings.TrimSpace(strings.ReplaceAll(desc, "\n", " "))
}

func newError(err error, o Options, tok *idtoken.Token, attempts int) *Error {
	e := &Error{
		Failure:       exchange.NewFailure(err, attempts),
		ClientID:      o.ClientID,
		TenantID:      o.TenantID,
		AuthorityHost: o.Authority(),
		Scope:         o.Scope,
		Claims:        tok.Claims,
		fields:        tok.SafeFields(o.Now()),
	}
	raw := tok.Raw
	var re *responseError
	var br *badResponse
	switch {
	case errors.As(err, &re):
		e.Status, e.RetryAfter = re.Status, re.RetryAfter
		if ee := re.Entra; ee != nil {
			e.OAuthError = ee.Error
			e.Code = aadstsCode(ee)
			e.Message = scrub(firstPart(ee.Description), raw, o.ClientID, o.TenantID)
			e.TraceID, e.CorrelationID = ee.TraceID, ee.CorrelationID
			if u, err := url.Parse(ee.ErrorURI); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
				e.ErrorURI = ee.ErrorURI
			}
		} else {
			e.CorrelationID = re.RequestID
		}
		e.Kind = classify(re.Status, e.Code, e.OAuthError)
	case errors.As(err, &br):
		e.Kind, e.Message = ErrEndpoint, br.Reason
	case e.Transport(err):
	default:
		// A transport error: keep its cause, not the URL it quotes.
		if e.Net.Kind != exchange.NetNone {
			e.Kind = ErrConnection
		}
		e.Message = scrub(exchange.Cause(err).Error(), raw, o.ClientID, o.TenantID)
	}
	return e
}

// aadstsCode is the first of error_codes, else the number that starts the
// description.
func aadstsCode(ee *entraError) int {
	if len(ee.ErrorCodes) > 0 {
		return ee.ErrorCodes[0]
	}
	if m := aadstsRE().FindStringSubmatch(ee.Description); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func classify(status, code int, oauthErr string) error {
	switch code {
	case codeNoMatch, codeNoMatchIssuer, codeNoMatchAudience, codeNoMatchSubject, codeSubjectCase:
		return ErrNoMatch
	case codeTokenTime, 500133:
		return ErrTokenTime
	case codeLocked, 53003, 530032, 530035:
		return ErrBlocked
	case codeIssuerMetadata:
		return ErrIssuer
	case 700016, 700011, 7000112, 70001:
		return ErrNoApp
	case 90002, 90019, 50059, 50128:
		return ErrTenant
	case 70011, 700022, 700023, 500011, 28002, 1002012:
		return ErrScope
	case 50027, 700027, 50012, 50013, 900384:
		return ErrInvalidToken
	case 90055:
		return ErrThrottled
	}
	switch {
	case status == 429:
		return ErrThrottled
	case status >= 500 || oauthErr == "temporarily_unavailable":
		return ErrUnavailable
	case oauthErr == "" && (status == 404 || status == 405):
		return ErrEndpoint
	case oauthErr == "" && code == 0:
		return ErrEndpoint // a 4xx that is not Entra's JSON: a proxy, or another server
	}
	return ErrRejected
}

// errorClass names an error for a log line without its text.
func errorClass(err error) string {
	var re *responseError
	if errors.As(err, &re) {
		if re.Entra != nil {
			if c := aadstsCode(re.Entra); c != 0 {
				return fmt.Sprintf("HTTP %d AADSTS%d", re.Status, c)
			}
			return fmt.Sprintf("HTTP %d %s", re.Status, re.Entra.Error)
		}
		return fmt.Sprintf("HTTP %d", re.Status)
	}
	return exchange.Describe(err, 0, "") // without an answer
}

// transient reports whether a retry can succeed: 5xx, 429 and
// temporarily_unavailable answers, and connection failures. A lockout
// (AADSTS50053) is never retried: more attempts prolong it.
func transient(err error) bool {
	var re *responseError
	if errors.As(err, &re) {
		if re.Entra != nil {
			if aadstsCode(re.Entra) == codeLocked {
				return false
			}
			if re.Entra.Error == "temporarily_unavailable" {
				return true
			}
		}
		return re.Status >= 500 || re.Status == 429
	}
	// Without an answer, the shared classifier decides: a refused
	// connection is retried, an untrusted certificate is not.
	return exchange.ClassifyNet(err).Kind == exchange.NetTransient
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "azure: Entra token request for client %s in tenant %s failed", MaskID(e.ClientID), MaskID(e.TenantID))
	switch {
	case e.Message != "" && e.Code != 0 && !strings.HasPrefix(e.Message, "AADSTS"):
		fmt.Fprintf(&b, ": AADSTS%d: %s", e.Code, e.Message)
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	case e.Code != 0:
		fmt.Fprintf(&b, ": AADSTS%d", e.Code)
	case e.Status != 0:
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	var ids []string
	if e.OAuthError != "" {
		ids = append(ids, "error "+e.OAuthError)
	} else if e.Status != 0 && e.Message != "" {
		ids = append(ids, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.TraceID != "" {
		ids = append(ids, "trace id "+e.TraceID)
	}
	if e.CorrelationID != "" {
		ids = append(ids, "correlation id "+e.CorrelationID)
	}
	if len(ids) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(ids, ", "))
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	b.WriteString("\n\n")
	b.WriteString(e.explain())
	if e.Code != 0 {
		uri := e.ErrorURI
		if uri == "" {
			uri = fmt.Sprintf("%serror?code=%d", e.AuthorityHost, e.Code)
		}
		fmt.Fprintf(&b, "\nMicrosoft's description of AADSTS%d: %s\n", e.Code, uri)
	}
	exchange.WriteClaims(&b, "Entra", e.fields)
	return strings.TrimRight(b.String(), "\n")
}

// credentialName is a federated identity credential name for the job:
// 3 to 120 letters, digits, '-' and '_', starting with a letter or digit.
func credentialName(c idtoken.Claims) string {
	var b strings.Builder
	b.WriteString("gitlab")
	for _, part := range []string{c.ProjectPath, c.Ref} {
		if part == "" {
			continue
		}
		b.WriteByte('-')
		for _, r := range part {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('-')
			}
		}
	}
	s := b.String()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (e *Error) explain() string {
	c := e.Claims
	aud := strings.Join(c.Audience, ",")
	iss := strings.TrimSuffix(c.Issuer, "/")
	timeout := option.Ref(exchange.OptTimeout)
	switch e.Kind {
	case ErrNoMatch:
		var lead string
		switch e.Code {
		case codeNoMatchIssuer:
			lead = "No federated identity credential of the app (or managed identity) names this token's issuer. The\n" +
				"issuer must equal the token's iss exactly: https, no trailing slash, no path GitLab does not use."
		case codeNoMatchAudience:
			lead = "A federated identity credential names this issuer and subject, but not the token's audience. Add the\n" +
				"audience to the credential, or request the credential's audience in the job's id_tokens (the component's\n" +
				"aud input and " + option.Ref(OptAudience) + ")."
		case codeSubjectCase:
			lead = "A federated identity credential's subject matches this token's only if case is ignored, and Entra\n" +
				"compares subjects case-sensitively. GitLab writes the project path as it is spelled in the project's URL:\n" +
				"copy the subject below exactly."
		case codeNoMatchSubject:
			lead = "No federated identity credential of the app (or managed identity) has this token's subject. Entra\n" +
				"compares subjects exactly and case-sensitively; a tag pipeline (ref_type:tag), another branch, or a\n" +
				"moved or renamed project presents a different one."
		default:
			lead = "No federated identity credential of the app (or managed identity) matches this token. A credential\n" +
				"matches when its issuer, subject and audience equal the token's exactly; subjects are compared\n" +
				"case-sensitively."
		}
		name := credentialName(c)
		return fmt.Sprintf("%s The job presents:\n\n"+
			"  issuer:    %s\n  subject:   %s\n  audience:  %s\n\n"+
			"A credential that admits exactly this job, for an app registration (--id takes its client id):\n\n"+
			"  az ad app federated-credential create --id CLIENT_ID --parameters credential.json\n\n"+
			"  credential.json: {\"name\": %q, \"issuer\": %q,\n"+
			"                    \"subject\": %q, \"audiences\": [%q]}\n\n"+
			"or for a user-assigned managed identity:\n\n"+
			"  az identity federated-credential create --name %s --identity-name IDENTITY --resource-group GROUP \\\n"+
			"    --issuer %s --subject '%s' --audiences %s\n\n"+
			"Compare with the app's credentials: az ad app federated-credential list --id CLIENT_ID (or\n"+
			"az identity federated-credential list --identity-name IDENTITY --resource-group GROUP). A new credential\n"+
			"takes several minutes to propagate, and Entra answers AADSTS70021 until it has: retry the job then.\n"+
			"To admit every branch of the project, a flexible federated identity credential can match the sub with a\n"+
			"wildcard; Entra accepts one from GitLab only beside the project's id and only for gitlab.com-style\n"+
			"issuers, and keyless policy writes it or says why it cannot:\n\n"+
			"  keyless policy azure --project %s --project-id %s --ref '*' --issuer %s\n",
			lead, iss, c.Subject, aud, name, iss, c.Subject, aud, name, iss, c.Subject, aud, c.ProjectPath, c.ProjectID, iss)
	case ErrTokenTime:
		return fmt.Sprintf("Entra considers the ID token outside its valid time range: expired (exp %s), or not valid yet.\n"+
			"GitLab's ID tokens live as long as the job's timeout; exchange early in the job, and check that the\n"+
			"runner's clock is synchronised (NTP).\n", c.ExpiresAt.UTC().Format(time.RFC3339))
	case ErrBlocked:
		if e.Code == codeLocked {
			return "Entra blocked the sign-in: AADSTS50053 means the account is locked after repeated failed sign-ins,\n" +
				"or that the request came from an IP address Entra associates with malicious activity. keyless did not\n" +
				"retry, since more attempts prolong a lockout. The failure reason is in the Microsoft Entra admin center under\n" +
				"Monitoring & health > Sign-in logs > Service principal sign-ins (error code 50053); if the runner's\n" +
				"egress IP is flagged, run the job from another network.\n"
		}
		return "A Conditional Access or security policy of the tenant blocked this sign-in. Check the policies that\n" +
			"apply to the service principal (for workload identities, usually a location policy: the runner's egress\n" +
			"IP) in the Microsoft Entra admin center's sign-in logs for service principals.\n"
	case ErrIssuer:
		return fmt.Sprintf("Entra could not fetch the issuer's discovery document (%s/.well-known/openid-configuration)\n"+
			"or its keys (jwks_uri, /oauth/discovery/keys on GitLab). Entra must reach the issuer over the public\n"+
			"internet: a self-managed GitLab behind a firewall must allow these two paths, or publish its discovery\n"+
			"document and keys at a public URL and issue its ID tokens for it (gitlab_rails['ci_id_tokens_issuer_url']\n"+
			"in Omnibus, global.appConfig.ciIdTokens.issuerUrl in the Helm chart). If they are reachable and this\n"+
			"persists, clear GitLab's Redis cache, which holds the discovery document.\n", iss)
	case ErrNoApp:
		return fmt.Sprintf("Entra has no application with this client id in tenant %s.\n"+
			"Check that %s is the Application (client) ID (not the object ID) of the app registration or\n"+
			"managed identity, and that %s is the Directory (tenant) ID shown beside it on its overview page.\n",
			MaskID(e.TenantID), option.Ref(OptClientID), option.Ref(OptTenantID))
	case ErrTenant:
		return fmt.Sprintf("Entra does not know the tenant %s at %s. Use the Directory (tenant) ID\n"+
			"(az account show --query tenantId) or a verified domain, and for a sovereign cloud its authority host\n"+
			"(%s https://login.microsoftonline.us/ for Azure Government).\n", MaskID(e.TenantID), e.AuthorityHost, option.Ref(OptAuthorityHost))
	case ErrScope:
		return fmt.Sprintf("Entra rejected the scope %q. The client credentials flow takes one resource's .default scope,\n"+
			"and the resource must exist in the tenant: %s for Azure Resource Manager (the Azure CLI,\n"+
			"Terraform), https://graph.microsoft.com/.default for Microsoft Graph, https://vault.azure.net/.default for\n"+
			"Key Vault. Set it with %s.\n", e.Scope, DefaultScopeFor(e.AuthorityHost), option.RefSources(OptScope))
	case ErrInvalidToken:
		return "Entra rejected the ID token itself (its format or signature). Check that the token is the one GitLab put\n" +
			"in the job's id_tokens variable, and that the issuer serves the keys it signs with (keyless token --verify).\n"
	case ErrThrottled:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Entra throttled the request and asked to wait %s, longer than the deadline left. Raise\n"+
				"%s, or spread jobs that exchange at the same moment.\n", e.RetryAfter.Round(time.Second), timeout)
		}
		return fmt.Sprintf("Entra throttled the request %s. Raise %s, or\n"+
			"spread jobs that exchange at the same moment.\n", exchange.RetryOutcome(e.Attempts), timeout)
	case ErrTimeout:
		return fmt.Sprintf("%s did not answer before the deadline (%s). Check the network path from the\n"+
			"runner (HTTPS_PROXY, NO_PROXY, a firewall allowing the authority host), or raise %s.\n", e.AuthorityHost, timeout, timeout)
	case ErrConnection:
		return e.Net.Advice(e.AuthorityHost, option.Ref(OptAuthorityHost)+" and the runner's DNS", e.Attempts)
	case ErrRedirect:
		return e.Redirect.Advice()
	case ErrTLS:
		return exchange.TLSAdvice("authority host", OptCAFile)
	case ErrEndpoint:
		return fmt.Sprintf("%s did not answer like Entra ID's token endpoint. Check %s\n"+
			"(%s, or https://login.microsoftonline.us/ for Azure Government) and any proxy in between.\n",
			e.AuthorityHost, option.Ref(OptAuthorityHost), DefaultAuthorityHost)
	case ErrUnavailable:
		if e.Status != 0 {
			return fmt.Sprintf("Entra answered with a server error or \"temporarily unavailable\" %s;\n"+
				"that is on Microsoft's side. Try again, or raise %s.\n", exchange.RetryOutcome(e.Attempts), timeout)
		}
	case ErrRejected:
		return "Entra rejected the request; the message above says why, and Microsoft's page for the code below\n" +
			"says what to change.\n"
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("Entra failed %s; try again, or raise %s.\n", exchange.RetryOutcome(e.Attempts), timeout)
	}
	return fmt.Sprintf("The request to %s failed; the message above says how. Check %s, and try again.\n", e.AuthorityHost, option.Ref(OptAuthorityHost))
}
