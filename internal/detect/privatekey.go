package detect

import "strings"

// Private keys in PEM or OpenSSH armour (RFC 7468). Public keys and
// certificates use other labels and are not matched.
var privateKeyFamily = family{
	detectors: []detector{
		{Info{"private-key", KindPrivateKey, "private key (PEM or OpenSSH armour with a body)"}, rankPrefix},
	},
}

// privateKeyLabels are the labels accepted between BEGIN and the dashes.
var privateKeyLabels = map[string]string{
	"PRIVATE KEY":                "private key (PKCS #8)",
	"RSA PRIVATE KEY":            "RSA private key",
	"EC PRIVATE KEY":             "EC private key",
	"DSA PRIVATE KEY":            "DSA private key",
	"OPENSSH PRIVATE KEY":        "OpenSSH private key",
	"ENCRYPTED PRIVATE KEY":      "encrypted private key (PKCS #8)",
	"PGP PRIVATE KEY BLOCK":      "PGP private key block",
	"PGP PRIVATE KEY":            "PGP private key",
	"SSH2 ENCRYPTED PRIVATE KEY": "SSH2 encrypted private key",
}

// minKeyBody is the least base64 a key body must have: the shortest real
// key (Ed25519, OpenSSH) has a few hundred; "MIIE..." in docs has a dozen.
const minKeyBody = 64

func scanPrivateKey(s *scanner) {
	v := s.v
	const begin = "-----BEGIN "
	for i := 0; s.has(trPrivateKey); {
		j := strings.Index(v[i:], begin)
		if j < 0 {
			return
		}
		at := i + j
		i = at + len(begin)
		k := strings.Index(v[i:], "-----")
		if k < 0 || k > 40 {
			continue
		}
		label := v[i : i+k]
		desc, ok := privateKeyLabels[label]
		if !ok {
			continue
		}
		bodyStart := i + k + 5
		// The body ends at the next armour line: its END, or another
		// block (a mangled END), or the end of the value.
		end, bodyEnd := len(v), len(v)
		if e := strings.Index(v[bodyStart:], "-----"); e >= 0 {
			bodyEnd = bodyStart + e
			end = bodyEnd
			if endMarker := "-----END " + label + "-----"; strings.HasPrefix(v[bodyEnd:], endMarker) {
				end = bodyEnd + len(endMarker)
			}
		}
		body := v[bodyStart:bodyEnd]
		if keyBody(body) < minKeyBody || longestRun(body, isB64) < 40 || lowVariety(body) || hasFold(body, "xxxxxxxx") || strings.Contains(body, "...") || strings.Contains(body, "…") {
			continue
		}
		for end > at && isSpace(v[end-1]) {
			end--
		}
		s.add("private-key", at, end, High, desc)
		i = end
	}
}

// keyBody counts the base64 characters of an armoured body, skipping
// headers such as Proc-Type and escaped newlines ("\n" in JSON).
func keyBody(body string) int {
	n := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '\\' && i+1 < len(body) && body[i+1] == 'n' {
			i++
			continue
		}
		if isB64(c) || c == '=' {
			n++
		}
	}
	return n
}

// longestRun returns the length of the longest run of bytes in class.
func longestRun(s string, class func(byte) bool) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if class(s[i]) {
			n++
			if n > best {
				best = n
			}
		} else {
			n = 0
		}
	}
	return best
}
