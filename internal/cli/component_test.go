package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/option"
	policyaws "gitlab.com/keyless-ci/keyless/internal/policy/aws"
)

// componentInputs is templates/*.yml as keyless reads it: every variable a
// credential component sets from an input, and which inputs have no
// default. The test reads the components themselves, so a renamed input,
// a new one or a dropped default fails here.
func TestComponentInputsMatchTemplates(t *testing.T) {
	t.Parallel()
	fromInput := regexp.MustCompile(`^\$\[\[ inputs\.([a-z_]+) \]\]$`)
	seen := map[string]bool{}
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			path := filepath.Join("..", "..", "templates", p.name+".yml")
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("provider %s has no component: %v", p.name, err)
			}
			defer f.Close()
			dec := yaml.NewDecoder(f)
			var spec struct {
				Spec struct {
					Inputs map[string]struct {
						Default *string `yaml:"default"`
					} `yaml:"inputs"`
				} `yaml:"spec"`
			}
			var body map[string]struct {
				Variables map[string]string `yaml:"variables"`
			}
			if err := errors.Join(dec.Decode(&spec), dec.Decode(&body)); err != nil {
				t.Fatal(err)
			}
			job, ok := body["$[[ inputs.as ]]"]
			if !ok {
				t.Fatalf("%s has no hidden job $[[ inputs.as ]]", path)
			}
			if got := job.Variables[p.componentVar()]; got != "$[[ inputs.as ]]" {
				t.Errorf("%s sets %s to %q, want the hidden job's name, $[[ inputs.as ]]", path, p.componentVar(), got)
			}
			// The variables keyless reads: its flags' fallbacks.
			read := map[string]bool{}
			for _, fl := range p.flags() {
				for _, v := range fl.(cli.DocGenerationFlag).GetEnvVars() {
					read[v] = true
				}
			}
			var want []componentInput
			for v, val := range job.Variables {
				m := fromInput.FindStringSubmatch(val)
				if m == nil || !read[v] {
					continue
				}
				in, ok := spec.Spec.Inputs[m[1]]
				if !ok {
					t.Errorf("%s: %s is set from input %s, which the spec does not declare", path, v, m[1])
				}
				want = append(want, componentInput{Name: m[1], Var: v, Required: in.Default == nil})
			}
			got := append([]componentInput(nil), componentInputs[p.name]...)
			for _, l := range [][]componentInput{want, got} {
				sort.Slice(l, func(i, j int) bool { return l[i].Var < l[j].Var })
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("componentInputs[%q] differs from %s (-template +table):\n%s", p.name, path, d)
			}
			// The component always configures its provider: from a required
			// input, or one with a default that is not empty (pypi's index_url).
			configured := false
			for _, in := range got {
				if in.Var != p.configVar {
					continue
				}
				d := spec.Spec.Inputs[in.Name].Default
				configured = in.Required || (d != nil && strings.TrimSpace(*d) != "")
			}
			if !configured {
				t.Errorf("%s: %s, which makes keyless env run the provider, is not set from a required input or one with a default", path, p.configVar)
			}
			seen[p.name] = true
		})
	}
	for name := range componentInputs {
		if !seen[name] {
			t.Errorf("componentInputs has %q, which is no provider", name)
		}
	}
}

// inJobWords names each option as the job set it and leaves alone what is
// not an option of the provider, and command lines given as advice, which
// name no option (package option).
func TestInJobWords(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) Env {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return Env{Getenv: func(k string) string { return m[k] }}
	}
	inComponent := env("KEYLESS_AWS_COMPONENT", ".keyless-aws", "KEYLESS_CA_FILE", "/ca.pem")
	endpoint, ca := option.Ref(aws.OptSTSEndpoint), option.RefSources(aws.OptCAFile)
	cases := []struct {
		env       Env
		in, want  string
		component bool
	}{
		{inComponent, endpoint + ` "ftp://x" is not an http(s) URL`, `sts_endpoint "ftp://x" is not an http(s) URL`, true},
		{inComponent, `no role to assume: pass ` + option.RefOrSet(aws.OptRoleARN) + `, e.g. arn:…`, `no role to assume: pass role_arn, e.g. arn:…`, true},
		// No input for it: the variable that is set, KEYLESS_CA_FILE here.
		{inComponent, `Pass the CA bundle with ` + ca + `; never`, `Pass the CA bundle with KEYLESS_CA_FILE; never`, true},
		{inComponent, `raise ` + option.Ref(exchange.OptTimeout) + `, or --sts-endpoint-ish`, `raise KEYLESS_AWS_TIMEOUT, or --sts-endpoint-ish`, true},
		{inComponent, `keys it signs with (keyless token --verify), and ` + flagRef("verify"), `keys it signs with (keyless token --verify), and KEYLESS_AWS_VERIFY`, true},
		{inComponent, "run 'keyless explain aws --trust-policy FILE' or set " + option.Ref(policyaws.OptTrustPolicy), "run 'keyless explain aws --trust-policy FILE' or set KEYLESS_AWS_TRUST_POLICY", true},
		{inComponent, option.Ref(vault.OptAddr) + ` is vault's`, `--addr is vault's`, true},
		// keyless env without a component: the variables.
		{env(), endpoint + ` "ftp://x"; pass the CA with ` + ca, `KEYLESS_AWS_STS_ENDPOINT "ftp://x"; pass the CA with KEYLESS_AWS_CA_FILE`, false},
	}
	for _, tc := range cases {
		err := awsProvider.inJobWords(tc.env, option.Errorf("%s", tc.in))
		var je *jobError
		if !errors.As(err, &je) || je.component != tc.component || err.Error() != tc.want {
			t.Errorf("%q\n got %q (component %v)\nwant %q (component %v)", tc.in, err, je != nil && je.component, tc.want, tc.component)
		}
	}
}

// The error keeps its type: keyless env's exit code is the provider's.
func TestInJobWordsKeepsTheExitCode(t *testing.T) {
	t.Parallel()
	err := awsProvider.inJobWords(Env{Getenv: func(string) string { return "" }}, usagef("%s %q", option.Ref(aws.OptDuration), "x"))
	if ExitCode(err) != ExitUsage || !strings.HasPrefix(err.Error(), "KEYLESS_AWS_DURATION") {
		t.Errorf("exit %d, %q", ExitCode(err), err)
	}
}
