package vault

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/vault/api"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of failure; test with errors.Is.
var (
	ErrRoleNotFound     = errors.New("role not found")
	ErrAudience         = errors.New("audience not accepted")
	ErrClaims           = errors.New("bound claims not met")
	ErrIssuer           = errors.New("issuer not accepted")
	ErrTokenExpired     = errors.New("token expired")
	ErrInvalidToken     = errors.New("token rejected")
	ErrMisconfigured    = errors.New("auth method misconfigured")
	ErrPermissionDenied = errors.New("permission denied")
	ErrNotFound         = errors.New("secret not found")
	ErrSealed           = errors.New("vault sealed")
	ErrInvalidRequest   = errors.New("request rejected as invalid")
)

// The failures every provider shares, under the names callers know.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrUnavailable = exchange.ErrUnavailable
	ErrUnreachable = exchange.ErrConnection // no answer: see ClassifyNet
	ErrTimeout     = exchange.ErrTimeout
	ErrTLS         = exchange.ErrTLS // an untrusted certificate, or a handshake Vault refused
	ErrRedirect    = exchange.ErrRedirect
)

// Operations an Error names.
const (
	OpLogin  = "login"
	OpDetect = "detect"
	OpRead   = "read"
	OpRevoke = "revoke"
)

// Error is a failed call to Vault, explained. Its message never contains
// the ID token, the Vault token or a secret's value: remote messages are
// scrubbed of them and of anything shaped like a JWT or a Vault token.
type Error struct {
	// Kind is one of the sentinels; Message Vault's errors, scrubbed,
	// joined with "; ".
	exchange.Failure
	Op        string
	Status    int // HTTP status, 0 without an answer
	Addr      string
	Namespace string
	Mount     string // the JWT auth method's mount
	Role      string
	// APIPath is the path the call used (auth/jwt/login, secret/data/ci/db).
	APIPath string
	// Secret is the secret being read, for detect and read.
	Secret    SecretRef
	KVVersion int
	Policies  []string // the Vault token's, for read failures
	// Claim is the claim a bound-claims refusal names.
	Claim   string
	Claims  idtoken.Claims
	fields  []idtoken.Field
	noBound bool // the role has no bound_audiences at all
	// missingField: the secret exists, the field does not; fieldNames are
	// the ones it has (names, never values).
	missingField bool
	fieldNames   []string
	hasToken     bool // claims are known (login)
}

var (
	// vaultLike is the shape of a Vault token (hvs., hvb., hvr., and the
	// s. and b. of Vault before 1.10), which the shared scrubber does not
	// know.
	vaultLike = lazyre.New(`\b(?:hv[sbr]\.[A-Za-z0-9_-]{20,}|[sb]\.[A-Za-z0-9]{24})\b`)
	multiErr  = lazyre.New(`^\d+ errors? occurred:\s*`)
	claimName = lazyre.New(`claim "([^"]+)"`)
)

// scrub is the shared scrubber, then Vault's tokens; it flattens Vault's
// multi-error lists.
func scrub(msg string, secrets []secret.Token) string {
	msg = secret.ScrubString(msg, secrets...)
	msg = vaultLike().ReplaceAllString(msg, secret.Redacted)
	if multiErr().MatchString(msg) {
		msg = multiErr().ReplaceAllString(msg, "")
		var parts []string
		for _, l := range strings.Split(msg, "\n") {
			if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*")); l != "" {
				parts = append(parts, l)
			}
		}
		msg = strings.Join(parts, "; ")
	}
	return strings.TrimSpace(msg)
}

// newError classifies err from a call to Vault.
func newError(err error, op string, c *call) *Error {
	e := &Error{Failure: exchange.NewFailure(err, c.attempts), Op: op, Addr: c.o.Addr, Namespace: c.o.Namespace,
		Mount: c.o.mount(), Role: c.o.Role, APIPath: c.path, Secret: c.secret, KVVersion: c.version, Policies: c.policies}
	if c.tok != nil {
		e.Claims, e.fields, e.hasToken = c.tok.Claims, c.tok.SafeFields(c.o.Clock()()), true
	}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Status = re.StatusCode
		msgs := make([]string, 0, len(re.Errors))
		for _, m := range re.Errors {
			if m = scrub(m, c.secrets); m != "" {
				msgs = append(msgs, m)
			}
		}
		if re.RawError {
			// A proxy's HTML page says nothing a person needs.
			msgs = nil
		}
		e.Message = strings.Join(msgs, "; ")
		e.classify()
	case e.Transport(err):
		if e.Kind == ErrTLS && e.Message == "" {
			e.Message = tlsMessage(err)
		}
	case exchange.IsTLS(err):
		// A handshake Vault refused (it may want a client certificate).
		e.Kind, e.Message = ErrTLS, tlsMessage(err)
	default:
		e.Kind = ErrUnreachable
		e.Message = scrub(exchange.Cause(err).Error(), c.secrets)
	}
	return e
}

func (e *Error) classify() {
	msg := strings.ToLower(e.Message)
	switch {
	case e.Status == 503 && strings.Contains(msg, "sealed"):
		e.Kind = ErrSealed
	case e.Status == 429:
		e.Kind = ErrThrottled
	case e.Status == 412 || e.Status >= 500:
		e.Kind = ErrUnavailable
	case e.Status == 403:
		e.Kind = ErrPermissionDenied
	case e.Status == 404:
		e.Kind = ErrNotFound
	case e.Op != OpLogin:
		e.Kind = ErrInvalidRequest
	case strings.Contains(msg, "could not be found") || strings.Contains(msg, "missing role"):
		e.Kind = ErrRoleNotFound
	case strings.Contains(msg, "audience claim found in jwt but no audiences bound"):
		e.Kind, e.noBound = ErrAudience, true
	case strings.Contains(msg, "audience (aud) claim") || strings.Contains(msg, "aud claim does not match"):
		e.Kind = ErrAudience
	case strings.Contains(msg, "bound claim values") || strings.Contains(msg, "is missing") ||
		strings.Contains(msg, "not found in token") || strings.Contains(msg, "could not be converted"):
		e.Kind = ErrClaims
		if m := claimName().FindStringSubmatch(e.Message); m != nil {
			e.Claim = m[1]
		}
	case strings.Contains(msg, "subject (sub) claim") || strings.Contains(msg, "bound subject"):
		e.Kind, e.Claim = ErrClaims, "sub"
	case strings.Contains(msg, "token is expired") || strings.Contains(msg, "not yet valid") || strings.Contains(msg, "issued in the future"):
		e.Kind = ErrTokenExpired
	case strings.Contains(msg, "issuer (iss) claim"):
		e.Kind = ErrIssuer
	case strings.Contains(msg, "could not load configuration") || strings.Contains(msg, "token validator") ||
		strings.Contains(msg, "role_type"):
		e.Kind = ErrMisconfigured
	case strings.Contains(msg, "signature") || strings.Contains(msg, "validating token") || strings.Contains(msg, "missing token"):
		e.Kind = ErrInvalidToken
	default:
		e.Kind = ErrInvalidRequest
	}
}

// statusClass names an error for a log line without its text.
func statusClass(err error) string {
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		return fmt.Sprintf("HTTP %d", re.StatusCode)
	case exchange.IsTLS(err):
		return "TLS error"
	}
	return exchange.Describe(err, 0, "") // without an answer
}

// transient reports whether a retry can succeed: a performance standby
// behind (412), a rate limit (429), a sealed or failing server (5xx), a
// connection that failed. A refused login (400), a denied read (403) and a
// missing secret (404) stay so.
func transient(err error) bool {
	var re *api.ResponseError
	if errors.As(err, &re) {
		s := re.StatusCode
		return s == 412 || s == 429 || s >= 500
	}
	// Without an answer, the shared classifier decides: a refused
	// connection is retried; an untrusted certificate, a TLS handshake
	// Vault refused or a redirect elsewhere is not.
	return exchange.ClassifyNet(err).Kind == exchange.NetTransient
}

func tlsMessage(err error) string {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return rh.Msg
	}
	if i := strings.Index(err.Error(), "tls: "); i >= 0 {
		return err.Error()[i:]
	}
	return "TLS handshake failed"
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	var b strings.Builder
	exchange.Headline{What: "vault: " + e.what() + " failed", Status: e.Status, Message: e.Message, Attempts: e.Attempts}.Write(&b)
	b.WriteString("\n\n")
	b.WriteString(e.explain())
	if e.hasToken && (e.Op == OpLogin) {
		exchange.WriteClaims(&b, "Vault", e.fields)
	}
	return strings.TrimRight(b.String(), "\n")
}

func (e *Error) where() string {
	s := e.Addr
	if e.Namespace != "" {
		s += " (namespace " + e.Namespace + ")"
	}
	return s
}

func (e *Error) what() string {
	switch e.Op {
	case OpLogin:
		return fmt.Sprintf("login with role %q at auth/%s on %s", e.Role, e.Mount, e.where())
	case OpDetect:
		return fmt.Sprintf("finding the secrets engine of %s (sys/internal/ui/mounts/%s) on %s", e.Secret.Path, e.Secret.Path, e.where())
	case OpRead:
		return fmt.Sprintf("read of %s (%s) on %s", e.Secret.Name(), e.APIPath, e.where())
	case OpRevoke:
		return fmt.Sprintf("revoking the Vault token (auth/token/revoke-self) on %s", e.where())
	}
	return e.Op + " on " + e.where()
}

// claimValue is the token's value of a claim by its JSON name.
func claimValue(c idtoken.Claims, name string) (string, bool) {
	b, _ := json.Marshal(c)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false
	}
	v, ok := m[name]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, ","), true
	}
	return fmt.Sprint(v), true
}

// boundClaimsFor is a bound_claims object that admits exactly this job.
func boundClaimsFor(c idtoken.Claims, extra string) string {
	names := []string{"project_path", "ref_type", "ref", "ref_protected"}
	if c.Environment != "" {
		names = append(names, "environment")
	}
	if extra != "" && extra != "sub" && extra != "aud" {
		found := false
		for _, n := range names {
			found = found || n == extra
		}
		if !found {
			names = append(names, extra)
		}
	}
	m := map[string]string{}
	for _, n := range names {
		if v, ok := claimValue(c, n); ok {
			m[n] = v
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("  {\n")
	for i, k := range keys {
		v, _ := json.Marshal(m[k])
		fmt.Fprintf(&b, "    %q: %s", k, v)
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  }\n")
	return b.String()
}

func (e *Error) explain() string {
	c := e.Claims
	aud := strings.Join(c.Audience, ",")
	role := fmt.Sprintf("auth/%s/role/%s", e.Mount, e.Role)
	timeout, addr := option.Ref(exchange.OptTimeout), option.Ref(OptAddr)
	switch e.Kind {
	case ErrRoleNotFound:
		return fmt.Sprintf("The JWT auth method at auth/%s has no role %q (Vault lowercases role names). Pass the role\n"+
			"that exists with %s, or create it; list them with\n"+
			"  vault list auth/%s/role\n", e.Mount, e.Role, option.RefSources(OptRole), e.Mount)
	case ErrAudience:
		if e.noBound {
			return fmt.Sprintf("The role lists no bound_audiences, and this token has an aud claim (%q); GitLab's ID tokens always\n"+
				"have one. Since Vault 1.17 (and in OpenBao) such a login is refused. Add the audience to the role,\n"+
				"bound_audiences=%q (vault read %s shows the role; a vault write of it must\n"+
				"repeat every field, role_type=jwt included).\n", aud, aud, role)
		}
		return fmt.Sprintf("The role's bound_audiences do not include this token's aud %q. Either add it to the role\n"+
			"(bound_audiences in vault read %s), or ask GitLab for an audience the role lists:\n"+
			"the job's id_tokens aud (the component's aud input) and %s must be that value.\n", aud, role, option.Ref(OptAudience))
	case ErrClaims:
		if e.Claim == "sub" {
			return fmt.Sprintf("The role's bound_subject does not equal this token's sub %q. GitLab's sub changes with the\n"+
				"branch or tag; match the project with bound_claims instead:\n\n%s", c.Subject, boundClaimsFor(c, ""))
		}
		got := "has no claim " + fmt.Sprintf("%q", e.Claim)
		if v, ok := claimValue(c, e.Claim); ok {
			got = fmt.Sprintf("has %s %q", e.Claim, v)
		}
		if strings.Contains(e.Message, "not found in token") || strings.Contains(e.Message, "could not be converted") {
			return fmt.Sprintf("The role's user_claim names the claim %q, and this token %s. Set user_claim to a claim\n"+
				"every GitLab ID token carries as a string, such as user_login or project_path.\n", e.Claim, got)
		}
		if e.Claim == "" {
			return "The role's bound_claims do not admit this job. These bound_claims admit exactly this job\n" +
				"(with bound_claims_type=string):\n\n" + boundClaimsFor(c, "")
		}
		return fmt.Sprintf("The role's bound_claims require claim %q to match, and this token %s. These\n"+
			"bound_claims admit exactly this job (with bound_claims_type=string; use glob and * to admit more):\n\n%s\n"+
			"Compare them with the role's (vault read %s): usually the branch, an unprotected ref\n"+
			"(ref_protected), or the project path after a move or rename differs.\n", e.Claim, got, boundClaimsFor(c, e.Claim), role)
	case ErrIssuer:
		return fmt.Sprintf("The JWT auth method's bound_issuer does not equal this token's iss %q. Set it to exactly that\n"+
			"(scheme included, no trailing slash):\n"+
			"  vault write auth/%s/config oidc_discovery_url=%s bound_issuer=%s\n", c.Issuer, e.Mount, c.Issuer, c.Issuer)
	case ErrTokenExpired:
		return "Vault considers the ID token expired or not yet valid. GitLab's ID tokens live as long as the job's\n" +
			"timeout; exchange early in the job, and check that the clocks of the runner and of Vault are synchronised.\n"
	case ErrInvalidToken:
		return fmt.Sprintf("Vault could not verify the ID token. Its JWT auth method must trust this token's issuer:\n"+
			"  vault write auth/%s/config oidc_discovery_url=%s bound_issuer=%s\n"+
			"Vault fetches %s/.well-known/openid-configuration and the keys it names, so it must reach the\n"+
			"GitLab instance; check that the token is the one GitLab put in the job.\n",
			e.Mount, c.Issuer, c.Issuer, strings.TrimSuffix(c.Issuer, "/"))
	case ErrMisconfigured:
		return fmt.Sprintf("The JWT auth method at auth/%s or the role is not set up for CI jobs: configure the method with\n"+
			"  vault write auth/%s/config oidc_discovery_url=%s bound_issuer=%s\n"+
			"and give the role role_type=jwt (the default, oidc, is for people signing in through a browser).\n",
			e.Mount, e.Mount, c.Issuer, c.Issuer)
	case ErrPermissionDenied:
		switch e.Op {
		case OpLogin:
			return fmt.Sprintf("Vault answers a login it has no route for with permission denied. Check that the JWT auth\n"+
				"method is enabled at auth/%s (%s; vault auth list), that the namespace is right (%s,\n"+
				"VAULT_NAMESPACE), and that the role's token_bound_cidrs admit the runner's address.\n", e.Mount, option.Ref(OptMount), option.Ref(OptNamespace))
		case OpDetect:
			return fmt.Sprintf("Vault tells which secrets engine serves a path only to a token that may use it. The token's\n"+
				"policies (%s) grant nothing under %s. Allow reading the secret in a policy of the role\n"+
				"(token_policies), for KV version 2 at the mount's data/ path:\n\n%s",
				strings.Join(e.Policies, ", "), e.Secret.Path, policySnippet(e.Secret.Path, 0))
		case OpRevoke:
			return "The Vault token was already revoked, or it expired. Nothing is left to revoke.\n"
		}
		return fmt.Sprintf("The Vault token's policies (%s) do not allow reading %s. Allow it in a policy of the\n"+
			"role (token_policies):\n\n%s", strings.Join(e.Policies, ", "), e.APIPath, policySnippet(e.APIPath, e.KVVersion))
	case ErrNotFound:
		if e.missingField {
			have := "no fields"
			if len(e.fieldNames) > 0 {
				have = "the fields " + strings.Join(e.fieldNames, ", ")
			}
			return fmt.Sprintf("The secret at %s has %s. Fix the #FIELD part of %q.\n", e.APIPath, have, e.Secret.String())
		}
		if e.Op == OpRead && e.Status == 0 {
			return fmt.Sprintf("keyless hands the job one text value per field. Fix the #FIELD part of %q.\n", e.Secret.String())
		}
		if e.Op == OpRead {
			return fmt.Sprintf("Vault has no secret at %s. Check the path with vault kv get %s (and the namespace).\n",
				e.APIPath, e.Secret.Path)
		}
		return fmt.Sprintf("Vault has no such path. Check %s, %s and %s.\n", addr, option.Ref(OptMount), option.Ref(OptNamespace))
	case ErrSealed:
		return "Vault is sealed, and stayed so until the deadline (" + timeout + "). An operator must unseal it.\n"
	case ErrThrottled:
		return fmt.Sprintf("Vault's rate limit quota refused the request %s. Raise\n"+
			"%s, spread concurrent jobs, or raise the quota (vault read sys/quotas/rate-limit/NAME).\n", exchange.RetryOutcome(e.Attempts), timeout)
	case ErrUnavailable:
		return fmt.Sprintf("Vault failed (a 5xx, or a performance standby that was behind) %s;\n"+
			"try again, or raise %s.\n", exchange.RetryOutcome(e.Attempts), timeout)
	case ErrUnreachable:
		return e.Net.Advice(e.Addr, option.RefSources(OptAddr), e.Attempts)
	case ErrRedirect:
		return e.Redirect.Advice() + "A Vault standby node redirects to the active node's api_addr: give " + addr + " the address of the\n" +
			"active node, or of a load balancer that sends requests to it.\n"
	case ErrTimeout:
		return exchange.TimeoutAdvice(e.Addr)
	case ErrTLS:
		return fmt.Sprintf("The TLS handshake with Vault failed: its certificate (or that of a TLS-inspecting proxy) is not\n"+
			"trusted, or Vault requires a client certificate. Pass the CA bundle with %s and a\n"+
			"client certificate with %s and %s; keyless never turns certificate checks off.\n",
			option.RefSources(OptCACert), option.Ref(OptClientCert), option.Ref(OptClientKey))
	}
	return "Vault refused the request; the message above says why.\n"
}

// policySnippet is a Vault policy that allows reading apiPath; for a
// detect failure (version 0) the path is a guess at KV version 2's.
func policySnippet(apiPath string, version int) string {
	p := apiPath
	if version == 0 {
		if i := strings.IndexByte(p, '/'); i > 0 {
			p = p[:i] + "/data/" + p[i+1:]
		}
	}
	return fmt.Sprintf("  path %q {\n    capabilities = [\"read\"]\n  }\n", p)
}
