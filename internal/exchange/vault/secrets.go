package vault

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// SecretRef names one field of one secret and where it goes: an
// environment variable (--secret ENV=PATH#FIELD) or a file
// (--secret-file PATH#FIELD=FILE).
//
// PATH is written as for `vault kv get`: the mount, then the secret's path
// (secret/ci/db). keyless finds the engine and its KV version as the vault
// CLI does, and reads KV v2 secrets at the mount's data/ path; the API path
// (secret/data/ci/db) is accepted too. Other engines' paths are read as
// they are (database/creds/ci).
type SecretRef struct {
	Env   string
	File  string
	Path  string
	Field string
}

// Name is where the value goes: the variable or the file.
func (r SecretRef) Name() string {
	if r.Env != "" {
		return r.Env
	}
	return r.File
}

// String is the reference as it was given.
func (r SecretRef) String() string {
	if r.Env != "" {
		return r.Env + "=" + r.Path + "#" + r.Field
	}
	return r.Path + "#" + r.Field + "=" + r.File
}

var envName = lazyre.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are the variables --export-token sets.
var reserved = map[string]bool{"VAULT_TOKEN": true, "VAULT_ADDR": true, "VAULT_NAMESPACE": true}

// secretSyntax is how to write a secret.
const secretSyntax = "use ENV=PATH#FIELD, e.g. DB_PASSWORD=secret/ci/db#password"

// ParseSecret parses ENV=PATH#FIELD.
func ParseSecret(spec string) (SecretRef, error) {
	spec = strings.TrimSpace(spec)
	name, ref, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return SecretRef{}, option.Invalid(OptSecret, spec, secretSyntax)
	}
	if !envName().MatchString(name) {
		return SecretRef{}, &option.Error{Option: OptSecret, Value: spec, Err: fmt.Errorf("%q is not a variable name (letters, digits and _, not starting with a digit)", name)}
	}
	if reserved[name] {
		return SecretRef{}, &option.Error{Option: OptSecret, Value: spec, Err: option.Errorf("keyless sets %s itself with %s; choose another name", name, option.Ref(OptExportToken))}
	}
	i := strings.LastIndexByte(ref, '#')
	if i < 0 {
		return SecretRef{}, &option.Error{Option: OptSecret, Value: spec, Err: fmt.Errorf("name the field after #, e.g. %s=%s#password", name, ref)}
	}
	path, field := strings.Trim(ref[:i], "/"), ref[i+1:]
	if path == "" || field == "" {
		return SecretRef{}, option.Invalid(OptSecret, spec, secretSyntax)
	}
	return SecretRef{Env: name, Path: path, Field: field}, nil
}

// ParseSecretFile parses PATH#FIELD=FILE.
func ParseSecretFile(spec string) (SecretRef, error) {
	spec = strings.TrimSpace(spec)
	path, rest, ok := strings.Cut(spec, "#")
	field, file, ok2 := strings.Cut(rest, "=")
	path = strings.Trim(path, "/")
	if !ok || !ok2 || path == "" || field == "" || file == "" {
		return SecretRef{}, option.Invalid(OptSecretFile, spec, "use PATH#FIELD=FILE, e.g. secret/ci/tls#key=/tmp/tls.key")
	}
	return SecretRef{File: file, Path: path, Field: field}, nil
}

// checkRefs refuses two secrets for one variable or one file.
func checkRefs(refs []SecretRef) error {
	seen := map[string]string{}
	for _, r := range refs {
		key := "env " + r.Env
		if r.Env == "" {
			key = "file " + r.File
		}
		if prev, ok := seen[key]; ok {
			return fmt.Errorf("%q and %q both write %s; give each its own", prev, r.String(), r.Name())
		}
		seen[key] = r.String()
	}
	return nil
}
