package detect

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// Container registry passwords written into a job: the argument of
// `docker login -p` (and the podman, buildah, skopeo, nerdctl, oras, helm
// registry, crane auth and regctl registry equivalents), a literal piped
// into `login --password-stdin`, or an inline DOCKER_AUTH_CONFIG.
var registryFamily = family{
	detectors: []detector{
		{Info{"registry-login-password", KindRegistryPassword, "container registry password given to a login command"}, rankContext},
		{Info{"docker-auth-config", KindRegistryPassword, "registry credentials in DOCKER_AUTH_CONFIG JSON (auths.*.auth or password)"}, rankContext},
	},
}

// loginTools are the words that come right before "login" in a registry
// login command.
var loginTools = map[string]bool{
	"docker": true, "podman": true, "buildah": true, "skopeo": true,
	"nerdctl": true, "oras": true, "registry": true, "auth": true,
	"finch": true, "img": true, "docker.exe": true, "podman.exe": true,
}

func scanRegistry(s *scanner) {
	if s.has(trLogin) {
		scanRegistryLogin(s)
	}
	if s.has(trAuths) || s.keyUpper == "DOCKER_AUTH_CONFIG" {
		scanDockerAuthConfig(s)
	}
}

func scanRegistryLogin(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], "login")
		if j < 0 {
			return
		}
		at := i + j
		i = at + 5
		if at+5 < len(v) && !isSpace(v[at+5]) && v[at+5] != ';' {
			continue
		}
		cmd := commandStart(v, at)
		before := strings.Fields(v[cmd:at])
		if len(before) == 0 || !loginTools[before[len(before)-1]] {
			continue
		}
		words := shellWords(v, at+5, 64)
		if a, ok := optionValue(v, words, "-p", "--password"); ok {
			if literalSecret(a.val) {
				s.add("registry-login-password", a.start, a.end, passwordConfidence(a.val), "")
			}
			continue
		}
		stdin := false
		for _, w := range words {
			if w.val == "--password-stdin" {
				stdin = true
			}
		}
		if !stdin || cmd == 0 || v[cmd-1] != '|' {
			continue
		}
		if a, ok := echoed(v, commandStart(v, cmd-1)); ok && literalSecret(a.val) {
			s.add("registry-login-password", a.start, a.end, passwordConfidence(a.val), "")
		}
	}
}

// echoed returns the text printed by the `echo X` or `printf '%s' X`
// command at from, if that is what the command is.
func echoed(v string, from int) (shArg, bool) {
	words := shellWords(v, from, 8)
	if len(words) < 2 {
		return shArg{}, false
	}
	switch words[0].val {
	case "echo":
		args := words[1:]
		for len(args) > 1 && strings.HasPrefix(args[0].val, "-") {
			args = args[1:]
		}
		if len(args) == 1 {
			return args[0], true
		}
	case "printf":
		if len(words) == 3 && strings.Contains(words[1].val, "%s") {
			return words[2], true
		}
		if len(words) == 2 && !strings.Contains(words[1].val, "%") {
			return words[1], true
		}
	}
	return shArg{}, false
}

// passwordConfidence is High for a password that looks chosen, Medium for a
// short or simple one that may still be a throwaway.
func passwordConfidence(p string) Confidence {
	if len(p) >= 8 && Entropy(p) >= 2.5 {
		return High
	}
	return Medium
}

var (
	authFieldRe     = regexp.MustCompile(`\\?"auth\\?"\s*:\s*\\?"([A-Za-z0-9+/=]{4,})\\?"`)
	passwordFieldRe = regexp.MustCompile(`\\?"(?:password|identitytoken)\\?"\s*:\s*\\?"([^"\\]+)\\?"`)
)

func scanDockerAuthConfig(s *scanner) {
	v := s.v
	for _, m := range authFieldRe.FindAllStringSubmatchIndex(v, -1) {
		enc := v[m[2]:m[3]]
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		user, pass, ok := strings.Cut(string(dec), ":")
		if !ok || user == "" || !literalSecret(pass) {
			continue
		}
		s.add("docker-auth-config", m[2], m[3], passwordConfidence(pass), "")
	}
	for _, m := range passwordFieldRe.FindAllStringSubmatchIndex(v, -1) {
		if pass := v[m[2]:m[3]]; literalSecret(pass) {
			s.add("docker-auth-config", m[2], m[3], passwordConfidence(pass), "")
		}
	}
}
