package detect

import "strings"

// Credentials in URLs: scheme://user:password@host with a literal password
// (RFC 3986 section 3.2.1 deprecates it; CI logs and clones leak it).
var urlFamily = family{
	detectors: []detector{
		{Info{"url-credentials", KindURLCredentials, "password in a URL (scheme://user:password@host)"}, rankContext},
	},
}

func scanURLs(s *scanner) {
	v := s.v
	for i := 0; s.has(trURL); {
		j := strings.Index(v[i:], "://")
		if j < 0 {
			return
		}
		at := i + j
		i = at + 3
		if at == 0 || !isLower(v[at-1]|0x20) {
			continue
		}
		ps, pe, ok := userinfo(v, i)
		if !ok {
			continue
		}
		s.add("url-credentials", ps, pe, passwordConfidence(v[ps:pe]), "")
		if n := len(s.cands); n > 0 && s.cands[n-1].Start == ps {
			m := &s.cands[n-1]
			m.Host = urlHost(v, pe+1)
			m.SameUser = v[i:ps-1] == v[ps:pe]
			m.Scheme = strings.ToLower(v[runStart(v, at, func(c byte) bool { return isAlnum(c) || c == '+' || c == '.' || c == '-' }):at])
		}
		i = pe
	}
}

// userinfo finds the password of the authority that starts at i (just
// after "://"). ok is false when there is none or it is not a literal.
func userinfo(v string, i int) (start, end int, ok bool) {
	// The authority ends at the path, query, fragment, or anything that
	// cannot be in a URL written in YAML or a shell line.
	auth := i
	for auth < len(v) {
		c := v[auth]
		if c == '/' || c == '?' || c == '#' || isSpace(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' {
			break
		}
		auth++
	}
	at := strings.LastIndexByte(v[i:auth], '@')
	if at < 0 {
		return 0, 0, false
	}
	at += i
	if at+1 >= auth { // no host
		return 0, 0, false
	}
	colon := strings.IndexByte(v[i:at], ':')
	if colon < 0 {
		return 0, 0, false
	}
	start, end = i+colon+1, at
	user, pass := v[i:i+colon], v[start:end]
	if user == "" && pass == "" {
		return 0, 0, false
	}
	if !literalSecret(pass) || strings.Trim(pass, "*") == "" {
		return 0, 0, false
	}
	return start, end, true
}

// urlHost returns the host of the authority whose host part starts at i
// (just after the @): up to the port, path, query or the end of the URL.
func urlHost(v string, i int) string {
	end := i
	if end < len(v) && v[end] == '[' { // [::1]:5432
		if j := strings.IndexByte(v[end:], ']'); j > 0 {
			return v[end+1 : end+j]
		}
	}
	for end < len(v) && !strings.ContainsRune(":/?#\"'<>` \t\r\n", rune(v[end])) {
		end++
	}
	return v[i:end]
}
