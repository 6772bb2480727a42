package detect

import "strings"

// Package registry and other service tokens that show up in CI files:
// npm (https://github.blog/2021-09-23-announcing-npms-new-access-token-format/),
// PyPI (macaroons serialised with the "pypi-AgEIcHlwaS5vcmc" header),
// GitHub (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/)
// and Slack.
var packageFamily = family{
	detectors: []detector{
		{Info{"npm-token", KindPackageToken, "npm access token (npm_)"}, rankPrefix},
		{Info{"npmrc-auth-token", KindPackageToken, "npm registry _authToken written into .npmrc"}, rankContext},
		{Info{"pypi-token", KindPackageToken, "PyPI API token (pypi-)"}, rankPrefix},
		{Info{"github-token", KindGitHubToken, "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)"}, rankPrefix},
		{Info{"slack-token", KindSlackToken, "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-)"}, rankPrefix},
	},
}

const pypiPrefix = "pypi-AgEIcHlwaS5vcmc"

func scanPackages(s *scanner) {
	if s.has(trNpm) {
		prefixed(s, "npm_", "npm-token", isAlnum, 36, 36)
	}
	if s.has(trAuthToken) {
		scanNpmrc(s)
	}
	if s.has(trPyPI) {
		prefixed(s, pypiPrefix, "pypi-token", isB64URL, 50, 0)
	}
	if s.has(trGitHub) {
		for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"} {
			prefixed(s, p, "github-token", isAlnum, 36, 36)
		}
		prefixed(s, "github_pat_", "github-token", func(c byte) bool { return isAlnum(c) || c == '_' }, 50, 0)
	}
	if s.has(trSlack) {
		for _, p := range []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"} {
			prefixed(s, p, "slack-token", func(c byte) bool { return isAlnum(c) || c == '-' }, 20, 0)
		}
	}
}

// prefixed reports every word-bounded prefix followed by a body of class
// with a length in [min, max] (max 0: unbounded).
func prefixed(s *scanner, prefix, id string, class func(byte) bool, min, max int) {
	prefixedConf(s, prefix, id, class, min, max, High, "")
}

// prefixedConf is prefixed with a confidence and a description of the
// variant (a test-mode key).
func prefixedConf(s *scanner, prefix, id string, class func(byte) bool, min, max int, conf Confidence, desc string) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], prefix)
		if j < 0 {
			return
		}
		at := i + j
		i = at + len(prefix)
		if !leftBounded(v, at) {
			continue
		}
		end := runEnd(v, i, class)
		body := v[i:end]
		i = end
		if n := len(body); n < min || (max > 0 && n > max) || n > maxTokenBody {
			continue
		}
		if end < len(v) && isAlnum(v[end]) {
			continue
		}
		if isPlaceholder(body) || Entropy(body) < 3.0 {
			continue
		}
		s.add(id, at, end, conf, desc)
	}
}

func scanNpmrc(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], "_authToken")
		if j < 0 {
			return
		}
		at := i + j + len("_authToken")
		i = at
		k := at
		for k < len(v) && (v[k] == ' ' || v[k] == '\t') {
			k++
		}
		if k >= len(v) || v[k] != '=' {
			continue
		}
		k++
		for k < len(v) && (v[k] == ' ' || v[k] == '\t') {
			k++
		}
		quote := byte(0)
		if k < len(v) && (v[k] == '"' || v[k] == '\'') {
			quote = v[k]
			k++
		}
		end := k
		for end < len(v) && !isSpace(v[end]) && v[end] != quote && v[end] != '"' && v[end] != '\'' && v[end] != ';' {
			end++
		}
		tok := v[k:end]
		if len(tok) < 8 || !literalSecret(tok) {
			continue
		}
		s.add("npmrc-auth-token", k, end, High, "")
		i = end
	}
}
