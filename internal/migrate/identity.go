package migrate

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
)

// Identity is the cloud identity one component include gets: the role,
// provider, app or Vault role that replaces a stored credential.
type Identity struct {
	Cloud string
	// As names the include's hidden job; "" lets migrate choose
	// (.keyless-aws, or .keyless-aws-NAME for a second identity).
	As string
	// Inputs are the component's inputs (role_arn, provider …).
	Inputs map[string]string
}

// key identifies the identity for sharing one include: its cloud and
// inputs.
func (id Identity) key() string {
	names := make([]string, 0, len(id.Inputs))
	for k := range id.Inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(id.Cloud)
	for _, k := range names {
		fmt.Fprintf(&b, "\x00%s=%s", k, id.Inputs[k])
	}
	return b.String()
}

// Identities say which identity replaces which stored credential.
type Identities struct {
	// Default is each cloud's identity for the credentials Vars does
	// not name (the --aws-role-arn … flags).
	Default map[string]Identity
	// Vars maps a stored credential variable (PROD_AWS_ACCESS_KEY_ID) to
	// its identity (the mapping file).
	Vars map[string]Identity
}

// lookup returns the identity for a job's use of cloud that reads the
// stored variables refs: the mapping's for the first of refs it names,
// else the cloud's default.
func (ids Identities) lookup(cloud string, refs []string) (Identity, bool) {
	for _, r := range refs {
		if id, ok := ids.Vars[r]; ok && id.Cloud == cloud {
			return id, true
		}
	}
	id, ok := ids.Default[cloud]
	return id, ok
}

// inputClouds tells a mapping entry's cloud by the inputs it sets.
var inputClouds = map[string]string{
	"role_arn": "aws", "sts_endpoint": "aws", "session_duration": "aws",
	"provider": "gcp", "service_account": "gcp",
	"client_id": "azure", "tenant_id": "azure", "authority_host": "azure",
	"addr": "vault", "role": "vault", "secrets": "vault", "secret_files": "vault",
	"package": "npm",
}

var nameRe = lazyre.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseMap reads a mapping file: stored credential variable names, each
// to the inputs of the component that replaces it, with cloud: when the
// inputs do not tell it and as: to name the hidden job.
//
//	PROD_AWS_ACCESS_KEY_ID:
//	  role_arn: arn:aws:iam::123456789012:role/prod-deploy
//	STAGING_AWS_ACCESS_KEY_ID:
//	  role_arn: arn:aws:iam::123456789012:role/staging-deploy
//	  as: .keyless-aws-staging
func ParseMap(src []byte) (map[string]Identity, error) {
	var raw map[string]map[string]string
	if err := yaml.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("mapping: %w: write VARIABLE: {input: value, …}, one entry per stored credential variable", err)
	}
	out := map[string]Identity{}
	for name, in := range raw {
		if !nameRe().MatchString(name) {
			return nil, fmt.Errorf("mapping: %q is not a variable name: key each entry by the stored credential's CI/CD variable", name)
		}
		id := Identity{Inputs: map[string]string{}}
		for k, v := range in {
			switch k {
			case "cloud":
				id.Cloud = v
			case "as":
				id.As = v
			default:
				id.Inputs[k] = v
				if c, ok := inputClouds[k]; ok && id.Cloud == "" {
					id.Cloud = c
				}
			}
		}
		if clouds[id.Cloud] == nil {
			return nil, fmt.Errorf("mapping: %s: cloud %q: set cloud: to aws, gcp, azure or vault, or the cloud's inputs (role_arn, provider, client_id, addr)", name, id.Cloud)
		}
		id, err := id.Complete()
		if err != nil {
			return nil, fmt.Errorf("mapping: %s: %w", name, err)
		}
		out[name] = id
	}
	return out, nil
}

// check reports a required input that is missing.
func (id Identity) check() error {
	c := clouds[id.Cloud]
	if c == nil {
		return fmt.Errorf("unknown cloud %q: use aws, gcp, azure or vault", id.Cloud)
	}
	for _, r := range c.required {
		if strings.TrimSpace(id.Inputs[r]) == "" {
			return fmt.Errorf("%s needs the input %s", id.Cloud, r)
		}
	}
	if p := id.Inputs["package"]; id.Cloud == "npm" && p != "" && !npmNameRe().MatchString(p) {
		return fmt.Errorf("package %q is not an npm package name (@scope/name, lowercase)", p)
	}
	if id.As != "" && !strings.HasPrefix(id.As, ".") {
		return fmt.Errorf("as %q: name a hidden job, starting with a dot", id.As)
	}
	return nil
}

// Complete fills in what a cloud derives (vault's aud from addr) and
// checks the required inputs.
func (id Identity) Complete() (Identity, error) {
	if clouds[id.Cloud] == nil {
		return id, id.check()
	}
	in := map[string]string{}
	for k, v := range id.Inputs {
		in[k] = v
	}
	if id.Cloud == "vault" && in["aud"] == "" {
		in["aud"] = in["addr"]
	}
	for k, v := range clouds[id.Cloud].fixed {
		if _, ok := in[k]; !ok {
			in[k] = v
		}
	}
	id.Inputs = in
	return id, id.check()
}
