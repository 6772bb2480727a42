package migrate

import (
	"regexp"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// cloud is what migrate knows of one keyless cloud component: the lines
// and variables a stored credential needed that the exchange replaces.
type cloud struct {
	name string // "aws": the component's template and the rule's replacement
	// envs are the variables a job maps a stored credential into; a
	// variables: entry or an assignment line that sets one from a stored
	// variable is removed.
	envs []string
	// required are the component's inputs without a default.
	required []string
	// fixed are inputs migrate always sets (vault: export_token, so the
	// job's own vault commands get the exchanged token).
	fixed map[string]string
	// kept are credential names a job may still read after the exchange
	// (the component exports them); any other of envs in a kept line
	// means the job builds credentials itself.
	kept []string
	// login classifies a script line that signs in with the stored
	// credential: the line is removed, and refs are the stored
	// variables it reads.
	login func(line string, keyFiles map[string]bool) (refs []string, ok bool)
	// replace is the line that takes a login line's place, when the
	// job's tools need one; nil removes the line.
	replace func(line string) string
	// vars are variables the job itself gets, for its tools to use the
	// exchange (azure: the refreshable mode, whose variables Terraform,
	// the SDKs and az login --federated-token read).
	vars [][2]string
}

var clouds = map[string]*cloud{
	"aws": {
		name:     "aws",
		envs:     []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		required: []string{"role_arn"},
		login:    awsLogin,
	},
	"gcp": {
		name:     "gcp",
		envs:     []string{"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"},
		required: []string{"provider"},
		login:    gcpLogin,
	},
	"azure": {
		name:     "azure",
		envs:     []string{"ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET"},
		required: []string{"client_id", "tenant_id"},
		login:    azureLogin,
		replace:  azureFederatedLogin,
		vars:     [][2]string{{"KEYLESS_AZURE_REFRESHABLE", `"true"`}},
	},
	// PyPI trusted publishing (issue 18): the component exports the
	// minted token as every client reads it.
	"pypi": {
		name:  "pypi",
		envs:  []string{"TWINE_PASSWORD", "UV_PUBLISH_TOKEN", "POETRY_PYPI_TOKEN_PYPI"},
		kept:  []string{"TWINE_PASSWORD", "UV_PUBLISH_TOKEN", "POETRY_PYPI_TOKEN_PYPI"},
		login: noLogin,
	},
	// npm trusted publishing (issue 18): the component exports the
	// minted token as NODE_AUTH_TOKEN and a user npmrc that reads it;
	// its package input is read from the job's package.json (npm.go).
	"npm": {
		name:     "npm",
		envs:     []string{"NPM_TOKEN", "NODE_AUTH_TOKEN", "NPM_AUTH_TOKEN", "YARN_NPM_AUTH_TOKEN"},
		required: []string{"package"},
		kept:     []string{"NODE_AUTH_TOKEN"},
		login:    npmLogin,
	},
	// crates.io trusted publishing (issue 18): the component exports
	// the minted token as CARGO_REGISTRY_TOKEN, which cargo publish
	// reads; cargo login and --token with the stored one go (crates.go).
	"crates": {
		name:    "crates",
		envs:    []string{"CARGO_REGISTRY_TOKEN", "CRATES_IO_TOKEN", "CRATES_IO_API_TOKEN", "CRATES_TOKEN", "CARGO_TOKEN"},
		kept:    []string{"CARGO_REGISTRY_TOKEN"},
		login:   cratesLogin,
		replace: cratesReplace,
	},
	"vault": {
		name:     "vault",
		envs:     []string{"VAULT_TOKEN", "BAO_TOKEN", "VAULT_SECRET_ID"},
		required: []string{"addr", "role", "aud"},
		fixed:    map[string]string{"export_token": "true"},
		kept:     []string{"VAULT_TOKEN", "BAO_TOKEN"},
		login:    vaultLogin,
	},
}

// cloudOrder is the order clouds are listed in.
var cloudOrder = []string{"aws", "gcp", "azure", "vault", "pypi", "npm", "crates"}

// noLogin is the login of a component whose stored token no line signs
// in with: publishing clients read it from their variables.
func noLogin(string, map[string]bool) ([]string, bool) { return nil, false }

// hidden is the hidden job a component's include names by default.
func (c *cloud) hidden() string { return ".keyless-" + c.name }

// refRe is one variable reference as a whole shell word: $X, ${X},
// "$X" or "${X}".
const refRe = `"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"?`

var (
	assignRe     = lazyre.New(`^(?:export\s+)?((?:[A-Za-z_][A-Za-z0-9_]*=` + refRe + `\s*)+);?$`)
	assignPartRe = lazyre.New(`([A-Za-z_][A-Za-z0-9_]*)=` + refRe)
	// Only the default profile: the component exports the credentials
	// into the environment, where a named profile's commands do not look.
	awsSetRe     = lazyre.New(`^aws\s+configure\s+set\s+(?:--profile\s+default\s+)?(?:default\.)?(aws_access_key_id|aws_secret_access_key|aws_session_token)\s+` + refRe + `(?:\s+--profile\s+default)?\s*$`)
	keyWriteRe   = lazyre.New(`^(?:echo(?:\s+-[neE]+)?|printf\s+(?:'%s'|"%s"|%s)|cat)\s+` + refRe + `\s*(?:\|\s*base64\s+(?:-d|--decode|-D)\s*)?>\s*("?[^\s;&|"]+"?)$`)
	keyDecodeRe  = lazyre.New(`^(?:echo(?:\s+-[neE]+)?|printf\s+(?:'%s'|"%s"|%s))\s+` + refRe + `\s*\|\s*base64\s+(?:-d|--decode|-D)\s*>\s*("?[^\s;&|"]+"?)$`)
	rmRe         = lazyre.New(`^rm\s+(?:-[rfv]+\s+)*("?[^\s;&|"]+"?)$`)
	vaultLoginRe = lazyre.New(`^(?:export\s+VAULT_TOKEN=\$\(\s*)?(?:vault|bao)\s+(?:login|write)\b`)
)

// assignments reads a line that only assigns variables from variables
// (export A=$X B="$Y"): the names assigned and the variables read.
func assignments(line string) (names, refs []string, ok bool) {
	if !assignRe().MatchString(line) {
		return nil, nil, false
	}
	for _, m := range assignPartRe().FindAllStringSubmatch(line, -1) {
		names = append(names, m[1])
		refs = append(refs, m[2])
	}
	return names, refs, true
}

func awsLogin(line string, _ map[string]bool) ([]string, bool) {
	if m := awsSetRe().FindStringSubmatch(line); m != nil {
		return []string{m[2]}, true
	}
	return nil, false
}

// gcpLogin removes gcloud auth activate-service-account with a key file,
// and the lines that write a stored key to the file it reads, set
// GOOGLE_APPLICATION_CREDENTIALS to it, or delete it.
func gcpLogin(line string, keyFiles map[string]bool) ([]string, bool) {
	f := strings.Fields(line)
	if len(f) >= 4 && f[0] == "gcloud" && f[1] == "auth" && f[2] == "activate-service-account" && strings.Contains(line, "--key-file") {
		if strings.ContainsAny(line, ";&|`") || strings.Contains(line, "$(") {
			return nil, false
		}
		var refs []string
		for i, w := range f {
			file := ""
			switch {
			case strings.HasPrefix(w, "--key-file="):
				file = strings.TrimPrefix(w, "--key-file=")
			case w == "--key-file" && i+1 < len(f):
				file = f[i+1]
			}
			if file != "" {
				refs = append(refs, pipeline.VarRefs(file)...)
				keyFiles[strings.Trim(file, `"'`)] = true
			}
		}
		return refs, true
	}
	for _, re := range []*regexp.Regexp{keyWriteRe(), keyDecodeRe()} {
		if m := re.FindStringSubmatch(line); m != nil {
			keyFiles[strings.Trim(m[2], `"'`)] = true
			return []string{m[1]}, true
		}
	}
	if m := rmRe().FindStringSubmatch(line); m != nil && keyFiles[strings.Trim(m[1], `"'`)] {
		return nil, true
	}
	if rest, ok := strings.CutPrefix(line, "export GOOGLE_APPLICATION_CREDENTIALS="); ok && keyFiles[strings.Trim(rest, `"'`)] {
		return nil, true
	}
	return nil, false
}

// azureLogin removes az login --service-principal with a client secret.
func azureLogin(line string, _ map[string]bool) ([]string, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "az" || f[1] != "login" || !strings.Contains(line, "--service-principal") ||
		strings.ContainsAny(line, ";&|`") || strings.Contains(line, "$(") {
		return nil, false
	}
	var refs []string
	secret := false
	for i, w := range f {
		switch {
		case w == "-p" || w == "--password" || w == "--secret" || w == "--client-secret":
			if i+1 < len(f) {
				refs = append(refs, pipeline.VarRefs(f[i+1])...)
			}
			secret = true
		case strings.HasPrefix(w, "-p=") || strings.HasPrefix(w, "--password=") || strings.HasPrefix(w, "--client-secret="):
			refs = append(refs, pipeline.VarRefs(w)...)
			secret = true
		}
	}
	return refs, secret
}

// azureFederatedLogin is the az login that replaces a client secret's:
// the ID token from the file the component's refreshable mode writes,
// read by az from the file (@FILE) so that its command line holds only
// the path (components/azure/README.md, "The Azure CLI").
func azureFederatedLogin(string) string {
	return `az login --service-principal -u "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" --federated-token "@$AZURE_FEDERATED_TOKEN_FILE"`
}

// vaultLogin removes a vault (or bao) login with a stored token, an
// AppRole secret_id or a password, and the AppRole login whose token a
// line exports: what the JWT login of the component replaces.
func vaultLogin(line string, _ map[string]bool) ([]string, bool) {
	if !vaultLoginRe().MatchString(line) || strings.ContainsAny(line, ";&`") || strings.Contains(line, "||") {
		return nil, false
	}
	f := strings.Fields(line)
	login := false
	for _, w := range f {
		if w == "login" || strings.HasPrefix(w, "auth/") && strings.Contains(w, "/login") {
			login = true
		}
		if strings.Contains(w, "method=jwt") || strings.Contains(w, "method=oidc") || strings.Contains(w, "auth/jwt") {
			return nil, false
		}
	}
	if !login {
		return nil, false
	}
	// Only what the login reads; a pipe on may hand the token on.
	if i := strings.Index(line, "|"); i >= 0 && !strings.HasSuffix(strings.TrimSpace(line), ")") {
		return nil, false
	}
	return pipeline.VarRefs(line), true
}
