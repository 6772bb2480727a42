package idtoken

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Claims are the claims of a GitLab CI/CD ID token, with the JSON types
// GitLab sends them in (lib/gitlab/ci/jwt.rb, jwt_v2.rb, and
// https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload):
// ids and booleans are strings ("42", "true"), runner_id is a number,
// groups_direct and user_identities are arrays, aud a string or an array.
// testdata/gitlab/id-tokens holds the payloads this follows, with their
// sources.
//
// Decoding is tolerant, because GitLab adds claims and a token is GitLab's
// to shape: a claim keyless does not use never fails decoding, whatever
// its type; a claim it uses that arrives as another type is read when the
// meaning is plain (a number where GitLab documents a string id, a JSON
// boolean where it documents "true") and otherwise named in a *ClaimError.
// Trust evaluation never reads these fields: it reads Token.Set, the
// claims exactly as GitLab sent them.
type Claims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  Audience    `json:"aud"`
	ExpiresAt NumericDate `json:"exp"`
	IssuedAt  NumericDate `json:"iat"`
	NotBefore NumericDate `json:"nbf"`
	ID        string      `json:"jti,omitempty"`

	NamespaceID       string `json:"namespace_id,omitempty"`
	NamespacePath     string `json:"namespace_path,omitempty"`
	ProjectID         string `json:"project_id,omitempty"`
	ProjectPath       string `json:"project_path,omitempty"`
	ProjectVisibility string `json:"project_visibility,omitempty"`
	// The job_ claims name the project the job runs in; they differ from
	// project_* in a merge request pipeline from a fork (jwt.rb).
	JobNamespaceID   string `json:"job_namespace_id,omitempty"`
	JobNamespacePath string `json:"job_namespace_path,omitempty"`
	JobProjectID     string `json:"job_project_id,omitempty"`
	JobProjectPath   string `json:"job_project_path,omitempty"`

	UserID          string         `json:"user_id,omitempty"`
	UserLogin       string         `json:"user_login,omitempty"`
	UserEmail       string         `json:"user_email,omitempty"`
	UserAccessLevel string         `json:"user_access_level,omitempty"`
	UserIdentities  []UserIdentity `json:"user_identities,omitempty"`
	GroupsDirect    []string       `json:"groups_direct,omitempty"`

	PipelineID           string `json:"pipeline_id,omitempty"`
	PipelineSource       string `json:"pipeline_source,omitempty"`
	JobID                string `json:"job_id,omitempty"`
	Ref                  string `json:"ref,omitempty"`
	RefType              string `json:"ref_type,omitempty"`
	RefPath              string `json:"ref_path,omitempty"`
	RefProtected         string `json:"ref_protected,omitempty"`
	Environment          string `json:"environment,omitempty"`
	EnvironmentProtected string `json:"environment_protected,omitempty"`
	DeploymentTier       string `json:"deployment_tier,omitempty"`
	EnvironmentAction    string `json:"environment_action,omitempty"`
	RunnerID             int64  `json:"runner_id,omitempty"`
	RunnerEnvironment    string `json:"runner_environment,omitempty"`
	SHA                  string `json:"sha,omitempty"`
	CIConfigRefURI       string `json:"ci_config_ref_uri,omitempty"`
	CIConfigSHA          string `json:"ci_config_sha,omitempty"`
	TargetAudience       string `json:"target_audience,omitempty"`
}

// UserIdentity is one entry of user_identities: an external identity of
// the user running the job. secondary_extern_uid is an EE column of the
// same identity.
type UserIdentity struct {
	Provider           string `json:"provider"`
	ExternUID          string `json:"extern_uid"`
	SecondaryExternUID string `json:"secondary_extern_uid,omitempty"`
}

// ClaimError names a claim keyless needs that arrived in a JSON type it
// cannot read. It shows the types, never the value.
type ClaimError struct {
	Claim string
	Got   string // the JSON type sent: "number", "object", ...
	Want  string // what GitLab documents
}

func (e *ClaimError) Error() string {
	return fmt.Sprintf("claim %q is a JSON %s; GitLab sends %s", e.Claim, e.Got, e.Want)
}

// claimKind is how one claim is read.
type claimKind int

const (
	kText       claimKind = iota // a string; nothing else has a plain meaning
	kID                          // a string id; an integral number is its digits
	kFlag                        // "true"/"false"; a JSON boolean is the same
	kNumber                      // a number; a string of digits is the same
	kDate                        // a NumericDate
	kAud                         // a string or an array of strings
	kList                        // an array of strings
	kIdentities                  // an array of {provider, extern_uid}
)

// claimSpec is one claim: its kind, where it goes, and whether keyless
// uses it (an unused claim of another type is dropped, never an error).
type claimSpec struct {
	kind claimKind
	used bool
	dst  func(*Claims) any
}

// Used reports whether keyless reads claim name to decide, to name the
// job or to build trust: a type it cannot read there is an error. Every
// other claim is informational and decodes best-effort.
func Used(name string) bool { return claimSpecs[name].used }

var claimSpecs = map[string]claimSpec{
	"iss":                   {kText, true, func(c *Claims) any { return &c.Issuer }},
	"sub":                   {kText, true, func(c *Claims) any { return &c.Subject }},
	"aud":                   {kAud, true, func(c *Claims) any { return &c.Audience }},
	"exp":                   {kDate, true, func(c *Claims) any { return &c.ExpiresAt }},
	"iat":                   {kDate, true, func(c *Claims) any { return &c.IssuedAt }},
	"nbf":                   {kDate, true, func(c *Claims) any { return &c.NotBefore }},
	"jti":                   {kText, false, func(c *Claims) any { return &c.ID }},
	"namespace_id":          {kID, true, func(c *Claims) any { return &c.NamespaceID }},
	"namespace_path":        {kText, true, func(c *Claims) any { return &c.NamespacePath }},
	"project_id":            {kID, true, func(c *Claims) any { return &c.ProjectID }},
	"project_path":          {kText, true, func(c *Claims) any { return &c.ProjectPath }},
	"project_visibility":    {kText, false, func(c *Claims) any { return &c.ProjectVisibility }},
	"job_namespace_id":      {kID, false, func(c *Claims) any { return &c.JobNamespaceID }},
	"job_namespace_path":    {kText, false, func(c *Claims) any { return &c.JobNamespacePath }},
	"job_project_id":        {kID, false, func(c *Claims) any { return &c.JobProjectID }},
	"job_project_path":      {kText, false, func(c *Claims) any { return &c.JobProjectPath }},
	"user_id":               {kID, false, func(c *Claims) any { return &c.UserID }},
	"user_login":            {kText, false, func(c *Claims) any { return &c.UserLogin }},
	"user_email":            {kText, false, func(c *Claims) any { return &c.UserEmail }},
	"user_access_level":     {kText, false, func(c *Claims) any { return &c.UserAccessLevel }},
	"user_identities":       {kIdentities, false, func(c *Claims) any { return &c.UserIdentities }},
	"groups_direct":         {kList, false, func(c *Claims) any { return &c.GroupsDirect }},
	"pipeline_id":           {kID, false, func(c *Claims) any { return &c.PipelineID }},
	"pipeline_source":       {kText, true, func(c *Claims) any { return &c.PipelineSource }},
	"job_id":                {kID, false, func(c *Claims) any { return &c.JobID }},
	"ref":                   {kText, true, func(c *Claims) any { return &c.Ref }},
	"ref_type":              {kText, true, func(c *Claims) any { return &c.RefType }},
	"ref_path":              {kText, false, func(c *Claims) any { return &c.RefPath }},
	"ref_protected":         {kFlag, true, func(c *Claims) any { return &c.RefProtected }},
	"environment":           {kText, true, func(c *Claims) any { return &c.Environment }},
	"environment_protected": {kFlag, false, func(c *Claims) any { return &c.EnvironmentProtected }},
	"deployment_tier":       {kText, false, func(c *Claims) any { return &c.DeploymentTier }},
	"environment_action":    {kText, false, func(c *Claims) any { return &c.EnvironmentAction }},
	"runner_id":             {kNumber, false, func(c *Claims) any { return &c.RunnerID }},
	"runner_environment":    {kText, false, func(c *Claims) any { return &c.RunnerEnvironment }},
	"sha":                   {kText, false, func(c *Claims) any { return &c.SHA }},
	"ci_config_ref_uri":     {kText, false, func(c *Claims) any { return &c.CIConfigRefURI }},
	"ci_config_sha":         {kText, false, func(c *Claims) any { return &c.CIConfigSHA }},
	"target_audience":       {kText, false, func(c *Claims) any { return &c.TargetAudience }},
}

var kindWant = map[claimKind]string{
	kText:       "a string",
	kID:         `a string id such as "42"`,
	kFlag:       `a string "true" or "false"`,
	kNumber:     "a number",
	kDate:       "a number of seconds since the epoch",
	kAud:        "a string or an array of strings",
	kList:       "an array of strings",
	kIdentities: `an array of {"provider", "extern_uid"} objects`,
}

// UnmarshalJSON reads a claims object as the type's comment says. null is
// an absent claim (GitLab sends null ci_config_ref_uri and ci_config_sha
// when the configuration is in another project).
func (c *Claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errNotObject
	}
	if raw == nil {
		return errNotObject
	}
	var out Claims
	for name, v := range raw {
		spec, ok := claimSpecs[name]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if string(v) == "null" {
			continue
		}
		if err := readClaim(spec.kind, v, spec.dst(&out)); err != nil {
			if spec.used {
				return &ClaimError{Claim: name, Got: jsonType(v), Want: kindWant[spec.kind]}
			}
			// Informational: keep the zero value, as if GitLab had not sent it.
		}
	}
	*c = out
	return nil
}

var errNotObject = fmt.Errorf("not a JSON object")

// readClaim decodes v into dst by kind; an error means the type has no
// plain meaning for that kind.
func readClaim(k claimKind, v json.RawMessage, dst any) error {
	switch k {
	case kText:
		return json.Unmarshal(v, dst.(*string))
	case kID:
		var s string
		if json.Unmarshal(v, &s) == nil {
			*dst.(*string) = s
			return nil
		}
		n, err := integer(v)
		if err != nil {
			return err
		}
		*dst.(*string) = strconv.FormatInt(n, 10)
		return nil
	case kFlag:
		var s string
		if json.Unmarshal(v, &s) == nil {
			*dst.(*string) = s
			return nil
		}
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return err
		}
		*dst.(*string) = strconv.FormatBool(b)
		return nil
	case kNumber:
		var s string
		if json.Unmarshal(v, &s) == nil {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return err
			}
			*dst.(*int64) = n
			return nil
		}
		n, err := integer(v)
		if err != nil {
			return err
		}
		*dst.(*int64) = n
		return nil
	case kDate:
		return dst.(*NumericDate).UnmarshalJSON(v)
	case kAud:
		return dst.(*Audience).UnmarshalJSON(v)
	case kList:
		return json.Unmarshal(v, dst.(*[]string))
	case kIdentities:
		return json.Unmarshal(v, dst.(*[]UserIdentity))
	}
	return fmt.Errorf("unknown kind")
}

// integer reads a JSON number with no fractional part.
func integer(v json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, err
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("not an integer")
	}
	return int64(f), nil
}

// jsonType names the JSON type of v.
func jsonType(v json.RawMessage) string {
	if len(v) == 0 {
		return "value"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// Audience is the aud claim, which RFC 7519 allows as a string or an array.
type Audience []string

// UnmarshalJSON accepts both forms.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

// MarshalJSON writes a single audience as a string, as GitLab does.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// Contains reports whether aud is one of the audiences.
func (a Audience) Contains(aud string) bool {
	for _, x := range a {
		if x == aud {
			return true
		}
	}
	return false
}

// NumericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional, zero when absent.
type NumericDate struct{ time.Time }

// UnmarshalJSON reads a number, or a string of one (unambiguous, though
// RFC 7519 §2 asks for a number).
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 1 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("date is not a number")
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return fmt.Errorf("date is not a number")
	}
	sec := int64(f)
	d.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	return nil
}

// MarshalJSON writes whole seconds.
func (d NumericDate) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatInt(d.Unix(), 10)), nil
}
