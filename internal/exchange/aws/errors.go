package aws

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
	policyaws "gitlab.com/keyless-ci/keyless/internal/policy/aws"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of rejection; test with errors.Is.
var (
	ErrAccessDenied = errors.New("access denied")
	ErrNoProvider   = errors.New("no OIDC provider for the issuer")
	ErrAudience     = errors.New("audience not accepted")
	ErrTokenExpired = errors.New("token expired")
	ErrInvalidToken = errors.New("token rejected")
	ErrUnreachable  = errors.New("STS could not reach the issuer")
	ErrInvalidInput = errors.New("request rejected as invalid")
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

// Error is a failed exchange, explained. Its message never contains the
// token or a credential: remote messages are scrubbed of anything that
// looks like a JWT.
type Error struct {
	exchange.Failure // Kind (one of the sentinels), Attempts, Message
	Code             string
	RequestID        string
	Chained          bool // the failure was in the chained AssumeRole
	RoleARN          string
	Endpoint         string
	Claims           idtoken.Claims
	fields           []idtoken.Field
}

func newError(err error, o Options, tok *idtoken.Token, attempts int) *Error {
	e := &Error{
		Failure:  exchange.NewFailure(err, attempts),
		RoleARN:  o.RoleARN,
		Endpoint: o.STSEndpoint,
		Claims:   tok.Claims,
		fields:   tok.SafeFields(time.Now()),
	}
	var api smithy.APIError
	var re *smithyhttp.ResponseError
	// An answer is judged first, then the transport's failures: a failed
	// send also comes wrapped in a ResponseError, with status 0.
	switch {
	case errors.As(err, &api):
		e.Code = api.ErrorCode()
		e.Message = secret.ScrubString(api.ErrorMessage(), tok.Raw)
		e.Kind = classify(e.Code, e.Message)
		if errors.As(err, &re) {
			e.RequestID = re.Response.Header.Get("X-Amzn-Requestid")
		}
	case e.Transport(err):
	case e.Net.Kind != exchange.NetNone:
		// Its text names the host and the failure.
		e.Kind = ErrConnection
		var rse *smithyhttp.RequestSendError
		if errors.As(err, &rse) {
			e.Message = secret.ScrubString(rse.Err.Error(), tok.Raw)
		} else {
			e.Message = secret.ScrubString(err.Error(), tok.Raw)
		}
	case errors.As(err, &re) && re.HTTPStatusCode() != 0:
		e.Code = fmt.Sprintf("HTTP %d", re.HTTPStatusCode())
		e.Kind = ErrUnavailable
	default:
		e.Message = secret.ScrubString(err.Error(), tok.Raw)
	}
	return e
}

func classify(code, msg string) error {
	lower := strings.ToLower(msg)
	switch {
	case code == "AccessDenied" || code == "AccessDeniedException":
		return ErrAccessDenied
	case code == "ExpiredTokenException" || code == "ExpiredToken" || strings.Contains(lower, "expired"):
		return ErrTokenExpired
	case code == "IDPCommunicationError" || strings.Contains(msg, "Couldn't retrieve verification key"):
		return ErrUnreachable
	case strings.Contains(msg, "No OpenIDConnect provider found"):
		return ErrNoProvider
	case strings.Contains(lower, "audience") || strings.Contains(lower, "`aud`") || strings.Contains(lower, "`azp`"):
		return ErrAudience
	case isThrottle(code):
		return ErrThrottled
	case strings.Contains(lower, "rolearn") || strings.Contains(lower, "role arn"):
		return ErrInvalidInput
	case code == "InvalidIdentityToken" || code == "IDPRejectedClaim" || code == "InvalidParameterValue":
		return ErrInvalidToken
	case code == "ValidationError" || code == "MalformedPolicyDocument" || code == "PackedPolicyTooLarge" ||
		code == "RegionDisabledException" || code == "InvalidParameterCombination":
		return ErrInvalidInput
	}
	return ErrUnavailable
}

func isThrottle(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "SlowDown":
		return true
	}
	return false
}

// errorClass names an error for a log line without its text, which may
// quote the request.
func errorClass(err error) string {
	var api smithy.APIError
	var re *smithyhttp.ResponseError
	switch {
	case errors.As(err, &api):
		return api.ErrorCode()
	case exchange.ClassifyNet(err).Kind != exchange.NetNone:
		return exchange.ClassifyNet(err).Reason
	case errors.As(err, &re) && re.HTTPStatusCode() != 0:
		return fmt.Sprintf("HTTP %d", re.HTTPStatusCode())
	}
	return "error"
}

// transient reports whether a retry can succeed. STS's answers are judged
// by their code and status; a failure without an answer by the shared
// classifier (a refused connection is retried, an untrusted certificate is
// not), before the status 0 of the ResponseError the SDK wraps it in.
func transient(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if code == "IDPCommunicationError" || isThrottle(code) || code == "ServiceUnavailable" || code == "InternalFailure" || code == "InternalError" {
			return true
		}
		if code == "InvalidIdentityToken" && strings.Contains(api.ErrorMessage(), "Couldn't retrieve verification key") {
			return true
		}
	}
	if n := exchange.ClassifyNet(err); n.Kind != exchange.NetNone {
		return n.Kind == exchange.NetTransient
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		s := re.HTTPStatusCode()
		return s >= 500 || s == 429
	}
	return false
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	var b strings.Builder
	op := "AssumeRoleWithWebIdentity"
	role := MaskARN(e.RoleARN)
	if e.Chained {
		op = "AssumeRole (role chaining)"
	}
	fmt.Fprintf(&b, "aws: STS %s for %s failed", op, role)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	b.WriteString("\n\n")
	b.WriteString(e.explain())
	exchange.WriteClaims(&b, "STS", e.fields)
	return strings.TrimRight(b.String(), "\n")
}

func (e *Error) explain() string {
	c := e.Claims
	host := idtoken.IssuerHost(c.Issuer)
	aud := strings.Join(c.Audience, ",")
	switch e.Kind {
	case ErrAccessDenied:
		if e.Chained {
			return "The first role was assumed, but its credentials may not assume the chained role.\n" +
				"Allow sts:AssumeRole on the chained role in the first role's permissions, and trust the first\n" +
				"role (and the external id, if you pass one) in the chained role's trust policy.\n"
		}
		// The condition and the branch pattern are keyless policy aws's own.
		branches, _ := policy.Spec{ProjectPath: c.ProjectPath, RefType: "branch", Ref: "*"}.Subject()
		return fmt.Sprintf("The role's trust policy does not admit this job. Check that its Principal is the\n"+
			"OIDC provider for %s (arn:aws:iam::ACCOUNT:oidc-provider/%s), that the role exists, and\n"+
			"that its conditions hold for this token. These conditions admit exactly this job:\n\n"+
			"  %s\n\n"+
			"To admit every branch of the project, use StringLike with %q.\n",
			c.Issuer, host, policyaws.ConditionJSON(host, aud, c.Subject, "  "), branches)
	case ErrNoProvider:
		return fmt.Sprintf("The AWS account has no IAM OIDC identity provider for this token's issuer. Register one:\n\n"+
			"  aws iam create-open-id-connect-provider --url %s --client-id-list %s\n\n"+
			"The URL must equal the token's iss exactly (no trailing slash), and the role's Principal must name it.\n",
			c.Issuer, aud)
	case ErrAudience:
		return fmt.Sprintf("STS does not accept the token's audience %q. Either add it to the OIDC provider's\n"+
			"audiences (aws iam add-client-id-to-open-id-connect-provider --client-id %s --open-id-connect-provider-arn ARN)\n"+
			"or request the audience the provider lists, usually sts.amazonaws.com, in the job's id_tokens\n"+
			"(the component's aud input).\n", aud, aud)
	case ErrTokenExpired:
		return "STS considers the ID token expired. GitLab's ID tokens live as long as the job's timeout;\n" +
			"exchange early in the job, and check that the runner's clock is synchronised.\n"
	case ErrUnreachable:
		return fmt.Sprintf("STS could not fetch the issuer's keys from %s/.well-known/openid-configuration and its\n"+
			"jwks_uri. AWS must reach the issuer over the public internet: a self-managed GitLab that is not\n"+
			"reachable from AWS needs its discovery document and keys published at a public URL (for example a\n"+
			"public S3 bucket), the ID tokens' issuer set to it (gitlab_rails['ci_id_tokens_issuer_url'] in\n"+
			"Omnibus, global.appConfig.ciIdTokens.issuerUrl in the Helm chart), and the OIDC provider registered\n"+
			"for that URL.\n",
			strings.TrimSuffix(c.Issuer, "/"))
	case ErrThrottled:
		return fmt.Sprintf("STS throttled the request %s. Raise %s, or\n"+
			"spread concurrent jobs that assume the same role.\n", exchange.RetryOutcome(e.Attempts), option.Ref(exchange.OptTimeout))
	case ErrTimeout:
		where := "STS"
		if e.Endpoint != "" {
			where = e.Endpoint
		}
		timeout := option.Ref(exchange.OptTimeout)
		return fmt.Sprintf("%s did not answer before the deadline (%s). Check the network path from the\n"+
			"runner to STS (HTTPS_PROXY, NO_PROXY, a VPC endpoint with %s), or raise %s.\n", where, timeout, option.Ref(OptSTSEndpoint), timeout)
	case ErrInvalidInput:
		return fmt.Sprintf("STS rejected the request's parameters; the message above names the one at fault\n"+
			"(%s, %s above the role's maximum session duration, %s, %s,\n"+
			"%s).\n", option.Ref(OptRoleARN), option.Ref(OptDuration), option.Ref(OptPolicyFile), option.Ref(OptPolicyARN),
			option.Ref(OptSessionName))
	case ErrConnection:
		where := "STS"
		if e.Endpoint != "" {
			where = e.Endpoint
		}
		return e.Net.Advice(where, option.Ref(OptSTSEndpoint)+" and "+option.Ref(OptRegion), e.Attempts)
	case ErrRedirect:
		return e.Redirect.Advice()
	case ErrTLS:
		return exchange.TLSAdvice("STS endpoint", OptCAFile)
	case ErrInvalidToken:
		return "STS rejected the ID token. Check that the OIDC provider's URL equals the token's iss, that its\n" +
			"audiences include the token's aud, and that the token is the one GitLab put in the job.\n"
	}
	where := "STS"
	if e.Endpoint != "" {
		where = "STS at " + e.Endpoint
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("%s failed %s; try again, or raise %s.\n", where, exchange.RetryOutcome(e.Attempts), option.Ref(exchange.OptTimeout))
	}
	return fmt.Sprintf("%s failed. Check that the endpoint is right and reachable, and try again.\n", where)
}
