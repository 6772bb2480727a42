package pipeline

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// GitLab reads CI YAML with Ruby's Psych, a YAML 1.1 reader, not YAML 1.2
// as yaml.v3 does. resolvePlain types an unquoted, untagged scalar as
// Psych::ScalarScanner#tokenize does (psych/lib/psych/scalar_scanner.rb),
// for the cases that change what GitLab sees:
//
//   - yes/no/on/off/true/false in any letter case are booleans (a variable
//     "DEBUG: on" is "true"; a key "on:" is the key "true"). Psych does not
//     read y/n/Y/N as booleans, so neither do we.
//   - ~, null (any case) and the empty scalar are null.
//   - integers: 0755 is octal (493), 0b1010 binary, 0x1F hex, and "_" and
//     "," are ignored (1_000 and 1,000 are 1000). Value is the decimal text.
//   - sexagesimal: 1:20 is an integer, computed as Psych does it (each part
//     times 60^|i-2|, so 1:20 is 4800 and 1:20:30 is 4830).
//   - floats need a dot (1e5 is a string, 1.5e+3 a float); Value is Ruby's
//     Float#to_s (1.10 becomes "1.1", .inf "Infinity").
//   - timestamps and dates are tagged "!!timestamp" with the text kept.
//
// Everything else is a string.
func resolvePlain(s string) (tag, value string) {
	if s == "" {
		return "!!null", ""
	}
	// Fast paths: a leading ASCII letter always matches psychString; a
	// scalar with no digit that is not .inf or .nan is read as a string
	// or ~ whether it matches or not, as every number and timestamp
	// pattern below needs a digit (hidden job names, $VARIABLES, paths).
	c0 := s[0] | 0x20
	if (c0 >= 'a' && c0 <= 'z') || strings.IndexByte(s, '\n') >= 0 || noNumber(s) || psychString.MatchString(s) {
		if len(s) > 5 {
			return "!!str", s
		}
		switch c := s[0] | 0x20; {
		case s == "~" || strings.EqualFold(s, "null"):
			return "!!null", ""
		case c != 'y' && c != 't' && c != 'o' && c != 'n' && c != 'f':
			return "!!str", s
		}
		switch strings.ToLower(s) {
		case "yes", "true", "on":
			return "!!bool", "true"
		case "no", "false", "off":
			return "!!bool", "false"
		}
		return "!!str", s
	}
	switch {
	case psychTime.MatchString(s), psychDate.MatchString(s):
		return "!!timestamp", s
	case strings.EqualFold(s, ".inf"), strings.EqualFold(s, "+.inf"):
		return "!!float", "Infinity"
	case strings.EqualFold(s, "-.inf"):
		return "!!float", "-Infinity"
	case strings.EqualFold(s, ".nan"):
		return "!!float", "NaN"
	case psychSexInt.MatchString(s):
		return "!!int", sexagesimal(s).Text(10)
	case psychSexFloat.MatchString(s):
		var f float64
		for i, part := range strings.Split(s, ":") {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.ReplaceAll(part, "_", ""), "."), 64)
			f += v * math.Pow(60, math.Abs(float64(i-2)))
		}
		return "!!float", rubyFloat(f)
	case psychFloat.MatchString(s):
		if s == "." || s == "+." || s == "-." {
			return "!!str", s
		}
		t := digitSeparators.Replace(s)
		if f, err := strconv.ParseFloat(strings.TrimSuffix(t, "."), 64); err == nil {
			return "!!float", rubyFloat(f)
		}
		return "!!str", s
	case psychInt.MatchString(s):
		if v, ok := rubyInteger(digitSeparators.Replace(s)); ok {
			return "!!int", v
		}
	}
	return "!!str", s
}

// noNumber reports whether s has no ASCII digit and is not one of Psych's
// .inf and .nan forms.
func noNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return false
		}
	}
	if len(s) > 5 {
		return true
	}
	switch strings.ToLower(s) {
	case ".inf", "+.inf", "-.inf", ".nan":
		return false
	}
	return true
}

// PlainTag returns the tag GitLab's YAML reader gives s written unquoted
// and untagged ("!!str", "!!bool", "!!int", "!!float", "!!null",
// "!!timestamp"): a writer must quote a string whose PlainTag is not
// "!!str" for GitLab to read it back as that string.
func PlainTag(s string) string {
	tag, _ := resolvePlain(s)
	return tag
}

// digitSeparators drops the "," and "_" Psych ignores in numbers.
var digitSeparators = strings.NewReplacer(",", "", "_", "")

var (
	psychString   = regexp.MustCompile(`^[^\d.:-]?[[:alpha:]_\s!@#$%^&*(){}<>|/\\~;=]+`)
	psychTime     = regexp.MustCompile(`^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$`)
	psychDate     = regexp.MustCompile(`^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$`)
	psychSexInt   = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}$`)
	psychSexFloat = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}\.[0-9_]*$`)
	psychFloat    = regexp.MustCompile(`^[-+]?(?:[0-9][0-9_,]*)?\.[0-9]*(?:[eE][-+][0-9]+)?$`)
	psychInt      = regexp.MustCompile(`^(?:[-+]?0b[_,]*[0-1][0-1_,]*|[-+]?0[_,]*[0-7][0-7_,]*|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[_,]*[0-9a-fA-F][0-9a-fA-F_,]*)$`)
)

// sexagesimal computes Psych's value of a base-60 integer: each part, the
// first with its sign, times 60^|i-2| (so -1:20 is -3600+1200).
func sexagesimal(s string) *big.Int {
	sum := new(big.Int)
	for i, part := range strings.Split(s, ":") {
		v, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ReplaceAll(part, "_", ""), "+"), 10)
		if !ok {
			continue
		}
		e := int64(i - 2)
		if e < 0 {
			e = -e
		}
		sum.Add(sum, v.Mul(v, new(big.Int).Exp(big.NewInt(60), big.NewInt(e), nil)))
	}
	return sum
}

// rubyInteger reads s as Ruby's Integer() does: 0b, 0x and leading-zero
// octal prefixes.
func rubyInteger(s string) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(s, "0b"):
		base, s = 2, s[2:]
	case strings.HasPrefix(s, "0x"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	v, ok := new(big.Int).SetString(s, base)
	if !ok {
		return "", false
	}
	if neg {
		v.Neg(v)
	}
	return v.Text(10), true
}

// rubyFloat formats f as Ruby's Float#to_s: shortest digits, a ".0" on
// whole numbers, exponent form outside [1e-4, 1e16).
func rubyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+20, 1.5e-05
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	sign := exp[0]
	digits := strings.TrimLeft(exp[1:], "0")
	for len(digits) < 2 {
		digits = "0" + digits
	}
	return mant + "e" + string(sign) + digits
}
