package idtoken

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Claims are the claims of a GitLab CI/CD ID token. GitLab encodes ids and
// booleans as JSON strings ("42", "true"); they are kept as strings here so
// that a trust policy can be compared with the exact value the cloud sees.
// See https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
type Claims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  Audience    `json:"aud"`
	ExpiresAt NumericDate `json:"exp"`
	IssuedAt  NumericDate `json:"iat"`
	NotBefore NumericDate `json:"nbf"`
	ID        string      `json:"jti,omitempty"`

	NamespaceID          string `json:"namespace_id,omitempty"`
	NamespacePath        string `json:"namespace_path,omitempty"`
	ProjectID            string `json:"project_id,omitempty"`
	ProjectPath          string `json:"project_path,omitempty"`
	ProjectVisibility    string `json:"project_visibility,omitempty"`
	UserID               string `json:"user_id,omitempty"`
	UserLogin            string `json:"user_login,omitempty"`
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
	RunnerID             string `json:"runner_id,omitempty"`
	RunnerEnvironment    string `json:"runner_environment,omitempty"`
	SHA                  string `json:"sha,omitempty"`
	CIConfigRefURI       string `json:"ci_config_ref_uri,omitempty"`
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

// UnmarshalJSON reads a number.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
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
