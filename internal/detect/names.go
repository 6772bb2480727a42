package detect

import "strings"

// secretWords are name words that say a variable holds a secret.
var secretWords = map[string]bool{
	"PASSWORD": true, "PASSWD": true, "PASS": true, "PWD": true, "PASSPHRASE": true,
	"SECRET": true, "SECRETS": true, "TOKEN": true, "TOKENS": true, "APIKEY": true,
	"CREDENTIAL": true, "CREDENTIALS": true, "CREDS": true, "AUTH": true,
	"PRIVATEKEY": true, "ACCESSKEY": true, "SECRETKEY": true, "AUTHTOKEN": true,
	"PAT": true, "JWT": true,
}

// keyQualifiers make KEY a secret word when they come right before it
// (API_KEY, PRIVATE_KEY); KEY alone (a cache key) is not one.
var keyQualifiers = map[string]bool{
	"API": true, "PRIVATE": true, "ACCESS": true, "SECRET": true, "SSH": true,
	"DEPLOY": true, "SIGNING": true, "ENCRYPTION": true, "MASTER": true,
	"GPG": true, "PGP": true, "ACCOUNT": true, "STORAGE": true, "LICENSE": true,
	"CLIENT": true, "APP": true, "SERVICE": true, "SA": true, "JSON": true,
}

// notSecretLast are final name words that make the value a pointer to or a
// property of a secret, not the secret (TOKEN_URL, PASSWORD_FILE).
var notSecretLast = map[string]bool{
	"ID": true, "IDS": true, "PATH": true, "PATHS": true, "FILE": true, "FILES": true,
	"URL": true, "URI": true, "ENDPOINT": true, "ARN": true, "REGION": true,
	"USER": true, "USERNAME": true, "NAME": true, "NAMES": true, "HOST": true,
	"PORT": true, "DIR": true, "TYPE": true, "ENABLED": true, "DISABLED": true,
	"ENABLE": true, "DISABLE": true, "VERSION": true, "MODE": true, "SHA": true,
	"DIGEST": true, "CHECKSUM": true, "FINGERPRINT": true, "LENGTH": true,
	"EXPIRY": true, "EXPIRES": true, "EXPIRATION": true, "TTL": true,
	"HEADER": true, "PREFIX": true, "SCOPE": true, "SCOPES": true, "ROLE": true,
	"AUDIENCE": true, "AUD": true, "KIND": true, "FORMAT": true, "LOCATION": true,
	"PROVIDER": true, "FIELD": true, "KEYRING": true, "VAR": true,
	"VARIABLE": true, "ISSUER": true, "SERVER": true, "METHOD": true,
	"COUNT": true, "SIZE": true, "IMAGE": true, "TAG": true, "REF": true,
	"LABEL": true, "TEMPLATE": true, "EXCLUDED": true, "EXCLUDE": true,
	"POLICY": true, "MOUNT": true, "ENGINE": true, "BACKEND": true,
	"REQUIRED": true, "LOGIN": true, "EMAIL": true, "ACCOUNT": true,
	"PROJECT": true, "NAMESPACE": true, "SUBSCRIPTION": true, "TENANT": true,
	"ANALYZER": true, "DETECTION": true, "IMAGES": true, "LEVEL": true,
}

// notSecretAnywhere are name words that rule a secret out wherever they
// appear (SSH_PUBLIC_KEY, SECRET_DETECTION_DISABLED).
var notSecretAnywhere = map[string]bool{
	"PUBLIC": true, "PUB": true, "DETECTION": true, "ANALYZER": true,
	"ANALYZERS": true, "EXCLUDED": true, "KEYLESS": true, "BYPASS": true,
	"SKIP": true,
}

// SecretName reports whether a variable or key name says it holds a secret
// (PASSWORD, SECRET, TOKEN, API_KEY, PRIVATE_KEY, ACCESS_KEY, CREDENTIALS,
// AUTH, PASSWD, PWD as a word), and not what points to or describes one
// (TOKEN_URL, PASSWORD_FILE, SECRET_NAME, *_ID, *_PATH, *_ARN, *_REGION,
// *_USERNAME, SSH_PUBLIC_KEY). Words are split on non-alphanumerics and on
// camelCase boundaries, so clientSecret and apiKey count.
func SecretName(name string) bool {
	var buf [16]string
	words := nameWords(name, buf[:0])
	if len(words) == 0 || (words[0] == "FF" && len(words) > 1) {
		// FF_* are GitLab Runner feature flags (FF_USE_GIT_PROACTIVE_AUTH).
		return false
	}
	if notSecretLast[words[len(words)-1]] && len(words) > 1 {
		return false
	}
	secret := false
	for i, w := range words {
		if notSecretAnywhere[w] {
			return false
		}
		if secretWords[w] {
			secret = true
		}
		if (w == "KEY" || w == "KEYS") && i > 0 && keyQualifiers[words[i-1]] {
			secret = true
		}
	}
	return secret
}

// nameWords splits a name into upper-case words, appending to words:
// "AWS_SECRET_ACCESS_KEY", "clientSecret", "api-key", "Docker.Password".
func nameWords(name string, words []string) []string {
	start := -1
	for i := 0; i <= len(name); i++ {
		// A word ends at a non-alphanumeric, at the end, or where a lower
		// case letter meets an upper case one (camelCase).
		boundary := i == len(name) || !isAlnum(name[i])
		camel := !boundary && start >= 0 && isUpper(name[i]) && isLower(name[i-1])
		if (boundary || camel) && start >= 0 {
			words = append(words, strings.ToUpper(name[start:i]))
			start = -1
		}
		if !boundary && start < 0 {
			start = i
		}
	}
	return words
}
