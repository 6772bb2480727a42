package detect

import (
	"regexp"
	"strings"
)

// versionRe matches version strings such as v1.2.3-beta-20240101.
var versionRe = regexp.MustCompile(`^[vV]?[0-9]+(?:\.[0-9]+)+(?:[-+][0-9A-Za-z.-]+)?$`)

// Placeholder reports whether value is a documented placeholder or an
// obvious non-secret: a variable reference ($VAR, ${VAR}), an example value
// (AWS's AKIAIOSFODNN7EXAMPLE, anything ending in EXAMPLE or EXAMPLEKEY),
// a filler (xxxx, ***, <token>, changeme, REDACTED, dummy, fake), a run of
// one character or a sequence (1234567890), or a value whose shape says what
// it is (a public key, a sha256: digest, a 40- or 64-hex commit SHA or
// checksum, a UUID, a URL without credentials, a path, a number, a version,
// a reference to a secret manager, the name of a secret).
func Placeholder(value string) bool {
	v := strings.TrimSpace(value)
	return isPlaceholder(v) || nonSecretShape(v)
}

// placeholderWords are values that are placeholders when they are the whole
// value (after trimming quotes), typically on a services: test database.
var placeholderWords = map[string]bool{
	"changeme": true, "change_me": true, "change-me": true, "changeit": true,
	"password": true, "passw0rd": true, "pass": true, "passwd": true, "pwd": true,
	"secret": true, "secrets": true, "token": true, "apikey": true, "api_key": true,
	"test": true, "testing": true, "tests": true, "example": true, "sample": true,
	"redacted": true, "dummy": true, "fake": true, "none": true, "null": true,
	"nil": true, "empty": true, "todo": true, "tbd": true, "foo": true, "bar": true,
	"foobar": true, "root": true, "admin": true, "administrator": true, "guest": true,
	"postgres": true, "mysql": true, "mariadb": true, "default": true, "user": true,
	"username": true, "letmein": true, "qwerty": true, "hunter2": true,
	"mypassword": true, "mysecret": true, "yourpassword": true, "yoursecret": true,
	"notasecret": true, "insecure": true, "unused": true, "anyvalue": true,
	"anything": true, "value": true, "true": true, "false": true, "xxx": true,
}

// placeholderParts mark a placeholder wherever they appear in a value.
var placeholderParts = []string{
	"example", "changeme", "change_me", "change-me", "redacted", "dummy",
	"placeholder", "xxxx", "****", "your_", "your-", "yourtoken", "yourkey",
	"yoursecret", "yourpassword", "fake", "notreal", "not_real", "not-a-real",
	"sample", "insert", "replace_me", "replaceme", "<", "...", "…",
	"password", "secret", "testing", "test-", "test_", "-test", "_test",
}

// isPlaceholder reports the documented placeholders and fillers. Detectors
// with a prefix check the part after the prefix with it; unlike Placeholder
// it does not reject hex or UUID shapes, which some tokens have.
func isPlaceholder(v string) bool {
	v = strings.Trim(v, "\"' \t\r\n")
	if v == "" {
		return true
	}
	if reference(v) {
		return true
	}
	lower := strings.ToLower(v)
	if placeholderWords[lower] {
		return true
	}
	for _, p := range placeholderParts {
		if strings.Contains(lower, p) {
			return true
		}
	}
	if strings.HasSuffix(lower, "test") || strings.HasPrefix(lower, "test") {
		return true
	}
	return lowVariety(v)
}

// lowVariety reports one repeated character, two alternating ones (xx-xxx),
// or an ascending or descending run (1234567890, abcdef).
func lowVariety(v string) bool {
	var seen [256]bool
	distinct := 0
	for i := 0; i < len(v); i++ {
		if !seen[v[i]] {
			seen[v[i]] = true
			distinct++
		}
	}
	if distinct <= 2 || (len(v) >= 16 && distinct <= 3) {
		return true
	}
	up, down := true, true
	for i := 1; i < len(v); i++ {
		d := int(v[i]) - int(v[i-1])
		if d != 1 && !(v[i-1] == '9' && v[i] == '0') && !(v[i-1]|0x20 == 'z' && v[i]|0x20 == 'a') {
			up = false
		}
		if d != -1 {
			down = false
		}
	}
	return up || down
}

// nonSecretShape reports values whose shape says they are not a secret.
func nonSecretShape(v string) bool {
	v = strings.Trim(v, "\"' \t\r\n")
	switch {
	case publicKey(v):
		return true
	case hasFold(v, "sha256:") || hasFold(v, "sha512:") || hasFold(v, "sha1:"):
		return true
	case (len(v) == 40 || len(v) == 64 || len(v) == 128) && all(v, isHex):
		return true // commit SHAs, SHA-256 and SHA-512 checksums
	case isUUID(v):
		return true
	case strings.Contains(v, "://") && !urlHasCredentials(v):
		return true
	case strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "~/"):
		return true
	case fileName(v):
		return true
	case all(v, func(c byte) bool { return isDigit(c) || c == '.' || c == '-' || c == '_' || c == 'v' }):
		return true // numbers, versions, dates
	case versionRe.MatchString(v):
		return true
	case secretReference(v) || secretNameValue(v):
		return true
	}
	return false
}

// Secret-manager references: values that say where a secret is kept, for
// a tool that fetches it, rather than hold it (issue 15).
var (
	// vault:projects/data/123/db#PASSWORD, openbao:kv/app@secret.
	vaultRefRe = regexp.MustCompile(`(?i)^(?:vault|openbao|bao):[A-Za-z0-9_.${}/-]+(?:#[A-Za-z0-9_.-]+)?(?:@[A-Za-z0-9_.-]+)?$`)
	// GitLab's secrets:vault: short form, path/to/secret/field@mount
	// (https://docs.gitlab.com/ci/yaml/#secretsvault), in one case per
	// segment (a password with / and @ mixes cases and digits).
	gitlabVaultRe = regexp.MustCompile(`^(?:[a-z0-9_.-]+|[A-Z0-9_.-]+|\$\{?[A-Za-z0-9_]+\}?)(?:/(?:[a-z0-9_.-]+|[A-Z0-9_.-]+|\$\{?[A-Za-z0-9_]+\}?))+@[A-Za-z0-9_.-]+$`)
	// A secret's path of lower-case words (kv/data/ci/api-key, with a
	// #field): a generated secret is not three lower-case words.
	secretPathRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*(?:/[a-z0-9][a-z0-9_.-]*){2,}(?:#[A-Za-z0-9_.-]+)?$`)
	// An ARN names an AWS resource: a Secrets Manager secret, an SSM
	// parameter, a KMS key (arn:partition:service:region:account:resource).
	arnRe = regexp.MustCompile(`^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:\S+$`)
	// Google Secret Manager: projects/P/secrets/S[/versions/V], also
	// behind //secretmanager.googleapis.com/ or gcp:.
	gcpSecretRe = regexp.MustCompile(`(?:^|/|:)projects/[A-Za-z0-9_.-]+/secrets/[A-Za-z0-9_-]+(?:/versions/[A-Za-z0-9_-]+)?$`)
)

// secretReference reports a reference to a secret kept in a secret
// manager: vault:path#FIELD, GitLab's path/field@mount, a lower-case
// secret path, an AWS ARN, a Google Secret Manager name, an Azure Key
// Vault reference (@Microsoft.KeyVault(...); its https:// URL is a URL
// without credentials).
func secretReference(v string) bool {
	switch {
	case strings.ContainsAny(v, " \t\r\n"):
		return false
	case vaultRefRe.MatchString(v), gitlabVaultRe.MatchString(v), secretPathRe.MatchString(v):
		return true
	case arnRe.MatchString(v), gcpSecretRe.MatchString(v):
		return true
	case hasFold(v, "@microsoft.keyvault(") && strings.HasSuffix(v, ")"):
		return true
	}
	return false
}

// secretNameValue reports a value that names a secret rather than holds
// one: NPM_TOKEN_PROD, stripe-api-key-prod, ci-bot-token. Its words are
// all letters or all digits (or short, like v2), as a generated secret's
// are not, and SecretName reads it as a secret's name.
func secretNameValue(v string) bool {
	if !all(v, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }) {
		return false
	}
	var buf [16]string
	words := nameWords(v, buf[:0])
	if len(words) < 2 {
		return false
	}
	for _, w := range words {
		if len(w) > 3 && !all(w, isUpper) && !all(w, isDigit) {
			return false
		}
	}
	return SecretName(v)
}

// fileExts end the names of files that hold or describe secrets; a value
// that is such a name points at a secret rather than being one.
var fileExts = []string{".json", ".pem", ".key", ".p12", ".pfx", ".crt", ".cer", ".jks", ".txt", ".yml", ".yaml", ".env", ".cfg", ".conf", ".ini", ".gpg", ".asc"}

// fileName reports a relative file name such as .gcp_temp_cred.json or
// secrets/deploy.pem: path characters only, ending in a known extension.
func fileName(v string) bool {
	lower := strings.ToLower(v)
	ext := false
	for _, e := range fileExts {
		if strings.HasSuffix(lower, e) && len(v) > len(e) {
			ext = true
			break
		}
	}
	return ext && all(v, func(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' || c == '/' })
}

// publicKey reports public keys, certificates and known_hosts lines.
func publicKey(v string) bool {
	for _, p := range []string{"ssh-rsa ", "ssh-ed25519 ", "ssh-dss ", "ecdsa-sha2-", "sk-ssh-ed25519", "sk-ecdsa-sha2-"} {
		if strings.Contains(v, p) {
			return true
		}
	}
	return strings.Contains(v, "-----BEGIN PUBLIC KEY") ||
		strings.Contains(v, "-----BEGIN RSA PUBLIC KEY") ||
		strings.Contains(v, "-----BEGIN CERTIFICATE") ||
		strings.Contains(v, "-----BEGIN PGP PUBLIC KEY")
}

// isUUID reports the 8-4-4-4-12 hex form (Azure client and tenant ids).
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if v[i] != '-' {
				return false
			}
		default:
			if !isHex(v[i]) {
				return false
			}
		}
	}
	return true
}

// urlHasCredentials reports whether some URL in v has a user:password@.
func urlHasCredentials(v string) bool {
	for i := 0; ; {
		j := strings.Index(v[i:], "://")
		if j < 0 {
			return false
		}
		i += j + 3
		if _, _, ok := userinfo(v, i); ok {
			return true
		}
	}
}
