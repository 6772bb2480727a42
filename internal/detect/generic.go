package detect

import "strings"

// The generic detector reports the literal value of a variable whose name
// says it is a secret (SecretName), when the value looks random enough to
// be one.
var genericFamily = family{
	detectors: []detector{
		{Info{"generic-secret", KindGeneric, "high-entropy literal in a secret-named variable"}, rankGeneric},
	},
}

// Entropy thresholds in bits per character, tuned on the samples: random
// 16-character base62 strings score about 3.7-4.0; dictionary passwords and
// flags (testing-password, enabled) stay below 3.3.
const (
	genericMinLen     = 12
	genericMinEntropy = 3.0
	genericMedium     = 3.5
)

func scanGeneric(s *scanner) {
	if s.has(trAssign) {
		scanAssignments(s)
	}
	if !s.keySecret {
		return
	}
	start, end := trimmedValue(s.v)
	genericValue(s, start, end)
}

// genericValue reports v[start:end] when it looks like a generated secret.
func genericValue(s *scanner, start, end int) {
	val := s.v[start:end]
	if len(val) < genericMinLen || strings.ContainsAny(val, " \t\r\n") {
		return
	}
	if reference(val) || isPlaceholder(val) {
		return
	}
	// A long hex string in a secret-named variable is more likely a
	// generated secret (SECRET_KEY_BASE) than a commit SHA.
	// Exactly 40 hex digits is a commit SHA.
	if len(val) >= 32 && len(val) != 40 && all(val, isHex) {
		s.add("generic-secret", start, end, Low, "")
		return
	}
	if nonSecretShape(val) {
		return
	}
	e := Entropy(val)
	if e < genericMinEntropy {
		return
	}
	conf := Low
	if e >= genericMedium && classes(val) >= 2 {
		conf = Medium
	}
	if s.ctx.Alias != "" {
		// A services: entry's variables configure a throwaway test
		// container (POSTGRES_PASSWORD for a test database).
		conf = Low
	}
	s.add("generic-secret", start, end, conf, "")
}

// scanAssignments finds shell assignments of a literal to a secret-named
// variable in a script line: `export API_TOKEN=…`, `DB_PASSWORD='…' cmd`.
// Names must be upper case, as environment variables are, so that option
// values such as --password=… are left to the detectors that know them.
func scanAssignments(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.IndexByte(v[i:], '=')
		if j < 0 {
			return
		}
		eq := i + j
		i = eq + 1
		ns := runStart(v, eq, func(c byte) bool { return isUpper(c) || isDigit(c) || c == '_' })
		if ns == eq || !isUpper(v[ns]) || (ns > 0 && !isSpace(v[ns-1]) && v[ns-1] != ';') {
			continue
		}
		if !SecretName(v[ns:eq]) {
			continue
		}
		words := shellWords(v, eq+1, 1)
		if len(words) == 0 || words[0].start < eq+1 || words[0].start > eq+2 {
			continue
		}
		genericValue(s, words[0].start, words[0].end)
	}
}
