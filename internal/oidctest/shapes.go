package oidctest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"gitlab.com/keyless-ci/keyless"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Shape is a GitLab ID token payload copied from GitLab's public material
// (testdata/gitlab/id-tokens). Minting a shape keeps every claim and its
// JSON type; only what a test must control (iss, aud, times, jti and the
// job's fields a Job sets) is replaced.
type Shape struct {
	Name   string
	Source string
	Note   string
	// Claims as the file has them; numbers are json.Number.
	Claims map[string]any
}

// DefaultShape is what Mint uses when a Job names none: a GitLab.com token.
const DefaultShape = "gitlab-com"

var loadShapes = sync.OnceValues(func() ([]Shape, error) {
	const dir = "testdata/gitlab/id-tokens"
	names, err := fs.Glob(keyless.GitLabIDTokens, dir+"/*.json")
	if err != nil {
		return nil, err
	}
	var out []Shape
	for _, n := range names {
		b, err := keyless.GitLabIDTokens.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var f struct {
			Source string         `json:"source"`
			Note   string         `json:"note"`
			Claims map[string]any `json:"claims"`
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&f); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if f.Source == "" || len(f.Claims) == 0 {
			return nil, fmt.Errorf("%s: a shape needs its source and its claims", n)
		}
		out = append(out, Shape{Name: strings.TrimSuffix(path.Base(n), ".json"), Source: f.Source, Note: f.Note, Claims: f.Claims})
	}
	return out, nil
})

// Shapes returns every shape, sorted by name. The files are embedded and
// checked by this package's tests, so a broken one is a programming error.
func Shapes() []Shape {
	s, err := loadShapes()
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return s
}

// ShapeNamed returns the shape called name.
func ShapeNamed(name string) (Shape, bool) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// claims returns s's claims for job j at now, for issuer iss. Only the
// fields j sets replace the shape's.
func (s Shape) claims(iss string, j Job, now time.Time) map[string]any {
	c := clone(s.Claims)
	c["iss"] = iss
	switch len(j.Audience) {
	case 0:
	case 1:
		c["aud"] = j.Audience[0]
	default:
		l := make([]any, len(j.Audience))
		for i, a := range j.Audience {
			l[i] = a
		}
		c["aud"] = l
	}
	ttl := j.TTL
	if ttl == 0 {
		ttl = time.Hour
		if exp, iat := number(c["exp"]), number(c["iat"]); exp > iat && iat > 0 {
			ttl = time.Duration(exp-iat) * time.Second
		}
	}
	iat := j.IssuedAt
	if iat.IsZero() {
		iat = now
	}
	iat = iat.Truncate(time.Second)
	c["iat"] = iat.Unix()
	c["nbf"] = iat.Add(-5 * time.Second).Unix() // jwt.rb: NOT_BEFORE_TIME = 5
	c["exp"] = iat.Add(ttl).Unix()
	c["jti"] = uuid()

	// The components the shape's sub was built from (GitLab's default when
	// it is GitLab's default, or not one GitLab built).
	components := policy.ComponentsOf(str(c["sub"]))
	if components == nil {
		components = policy.DefaultSubComponents
	}
	if j.ProjectPath != "" {
		old := str(c["project_path"])
		ns := j.ProjectPath
		if k := strings.LastIndex(ns, "/"); k >= 0 {
			ns = ns[:k]
		}
		setIf(c, true, "project_path", j.ProjectPath)
		setIf(c, true, "namespace_path", ns)
		setIf(c, has(c, "job_project_path"), "job_project_path", j.ProjectPath)
		setIf(c, has(c, "job_namespace_path"), "job_namespace_path", ns)
		if u, ok := c["ci_config_ref_uri"].(string); ok && old != "" {
			c["ci_config_ref_uri"] = strings.Replace(u, "/"+old+"//", "/"+j.ProjectPath+"//", 1)
		}
	}
	if j.ProjectID != "" {
		setIf(c, true, "project_id", j.ProjectID)
		setIf(c, has(c, "job_project_id"), "job_project_id", j.ProjectID)
	}
	if j.NamespaceID != "" {
		setIf(c, true, "namespace_id", j.NamespaceID)
		setIf(c, has(c, "job_namespace_id"), "job_namespace_id", j.NamespaceID)
	}
	if j.Ref != "" || j.RefType != "" {
		ref, refType := j.Ref, j.RefType
		if ref == "" {
			ref = str(c["ref"])
		}
		if refType == "" {
			refType = str(c["ref_type"])
		}
		refPath := "refs/heads/" + ref
		if refType == "tag" {
			refPath = "refs/tags/" + ref
		}
		if u, ok := c["ci_config_ref_uri"].(string); ok {
			if k := strings.LastIndex(u, "@"); k >= 0 {
				c["ci_config_ref_uri"] = u[:k+1] + refPath
			}
		}
		c["ref"], c["ref_type"], c["ref_path"] = ref, refType, refPath
		if j.Ref != "" {
			c["ref_protected"] = fmt.Sprint(j.RefProtected)
		}
	}
	if j.Environment != "" {
		if _, had := c["environment"]; !had {
			c["environment_protected"] = "false"
			c["deployment_tier"] = "other"
			c["environment_action"] = "start"
		}
		c["environment"] = j.Environment
	}
	if j.PipelineSource != "" {
		c["pipeline_source"] = j.PipelineSource
	}
	if j.JobID != "" {
		c["job_id"] = j.JobID
	}
	if j.Subject != "" {
		c["sub"] = j.Subject
	} else {
		c["sub"] = subject(c, components)
	}
	return c
}

// subject builds the sub claim from components, as JwtV2 does.
func subject(c map[string]any, components []string) string {
	var parts []string
	for _, n := range components {
		if v := str(c[n]); v != "" {
			parts = append(parts, n, v)
		}
	}
	return strings.Join(parts, ":")
}

func clone(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		switch x := v.(type) {
		case []any:
			out[k] = slices.Clone(x)
		case map[string]any:
			out[k] = clone(x)
		}
	}
	return out
}

func has(c map[string]any, k string) bool { _, ok := c[k]; return ok }

func setIf(c map[string]any, cond bool, k string, v any) {
	if cond {
		c[k] = v
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func number(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return n
	case int64:
		return x
	}
	return 0
}

// uuid is a random RFC 4122 version 4 UUID, the form of GitLab's jti
// (SecureRandom.uuid in jwt.rb).
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
