package idtoken

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Field is one claim that is safe to show: claims identify the job, they
// grant nothing; the signature and the token text are never fields.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SafeFields lists the claims a person needs to match a trust policy, in a
// fixed order, with the remaining lifetime at now.
func (t *Token) SafeFields(now time.Time) []Field {
	c := t.Claims
	f := []Field{
		{"iss", c.Issuer},
		{"aud", strings.Join(c.Audience, ",")},
		{"sub", c.Subject},
		{"project_path", c.ProjectPath},
		{"project_id", c.ProjectID},
		{"namespace_path", c.NamespacePath},
		{"ref", c.Ref},
		{"ref_type", c.RefType},
		{"ref_protected", c.RefProtected},
		{"environment", c.Environment},
		{"pipeline_source", c.PipelineSource},
		{"expires", fmt.Sprintf("%s (%s)", c.ExpiresAt.Format(time.RFC3339), lifetime(t.Remaining(now)))},
	}
	return f
}

func lifetime(d time.Duration) string {
	if d < 0 {
		return "expired " + (-d).Round(time.Second).String() + " ago"
	}
	return d.Round(time.Second).String() + " left"
}

// FormatFields renders fields as an aligned table, indented by indent;
// empty values show as "-".
func FormatFields(indent string, fields []Field) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		v := f.Value
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, f.Name, v)
	}
	tw.Flush()
	return b.String()
}

// IssuerHost is the issuer URL without its scheme and trailing slash, the
// form AWS IAM uses in condition keys (gitlab.com:sub).
func IssuerHost(iss string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(iss, "https://"), "http://")
	return strings.TrimSuffix(h, "/")
}
