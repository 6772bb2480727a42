package detect

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// GCP service-account keys are JSON documents
// (https://cloud.google.com/iam/docs/keys-create-delete) with
// "type": "service_account" and a PEM "private_key". API keys are
// "AIza" followed by 35 characters.
var gcpFamily = family{
	detectors: []detector{
		{Info{"gcp-service-account-key", KindGCPServiceKey, "GCP service-account key JSON with a private key"}, rankStructured},
		{Info{"gcp-service-account-key-base64", KindGCPServiceKey, "base64-encoded GCP service-account key JSON"}, rankStructured},
		{Info{"gcp-api-key", KindGCPAPIKey, "Google API key (AIza…)"}, rankPrefix},
	},
}

var (
	saTypeRe       = regexp.MustCompile(`\\?"type\\?"\s*:\s*\\?"service_account\\?"`)
	saPrivateKeyRe = regexp.MustCompile(`\\?"private_key\\?"\s*:\s*\\?"-----BEGIN (?:RSA )?PRIVATE KEY-----`)
)

func scanGCP(s *scanner) {
	if s.has(trServiceAcct) {
		scanSAJSON(s)
	}
	if s.has(trGCPAPIKey) {
		scanGCPAPIKey(s)
	}
	if s.has(trB64JSON) {
		scanSABase64(s)
	}
}

func scanSAJSON(s *scanner) {
	v := s.v
	loc := saTypeRe.FindStringIndex(v)
	if loc == nil || !saPrivateKeyRe.MatchString(v) {
		return
	}
	start := strings.LastIndexByte(v[:loc[0]], '{')
	if start < 0 {
		start = loc[0]
	}
	end := jsonObjectEnd(v, start)
	s.add("gcp-service-account-key", start, end, High, "")
}

// jsonObjectEnd returns the end of the JSON object starting at v[start]
// ('{'), or the end of v when it is cut short.
func jsonObjectEnd(v string, start int) int {
	depth := 0
	inStr := false
	for i := start; i < len(v); i++ {
		c := v[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(strings.TrimRight(v, " \t\r\n"))
}

// scanSABase64 decodes only long base64 runs that start like encoded JSON
// ("{\n" or "{\"" encode to "ew" and "ey"); other base64 stays encoded.
func scanSABase64(s *scanner) {
	v := s.v
	if len(v) < 100 {
		return
	}
	for i := 0; i+100 <= len(v); {
		j := strings.Index(v[i:], "e")
		if j < 0 {
			return
		}
		i += j
		if i+1 >= len(v) || (v[i+1] != 'w' && v[i+1] != 'y') || (i > 0 && isB64(v[i-1])) {
			i++
			continue
		}
		end := runEnd(v, i, func(c byte) bool { return isB64(c) || c == '=' || c == '\n' || c == '\r' })
		raw := strings.TrimRight(v[i:end], "\r\n")
		end = i + len(raw)
		start := i
		i = end
		if len(raw) < 100 {
			continue
		}
		enc := strings.NewReplacer("\n", "", "\r", "").Replace(raw)
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
			if err != nil {
				continue
			}
		}
		d := string(dec)
		if saTypeRe.MatchString(d) && saPrivateKeyRe.MatchString(d) {
			s.add("gcp-service-account-key-base64", start, end, High, "")
		}
	}
}

func scanGCPAPIKey(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], "AIza")
		if j < 0 {
			return
		}
		start := i + j
		i = start + 4
		if !leftBounded(v, start) {
			continue
		}
		end := runEnd(v, start+4, isB64URL)
		if end-start != 39 {
			continue
		}
		body := v[start+4 : end]
		if isPlaceholder(body) || Entropy(body) < 3.5 {
			continue
		}
		s.add("gcp-api-key", start, end, High, "")
		i = end
	}
}
