package detect

import "strings"

// Trigger flags: which cheap keywords a value contains. Scan computes them in
// one pass over the bytes and runs a detector only when its keyword is
// there, so most values cost one loop and no regexp.
const (
	trAWSKeyID     uint32 = 1 << iota // AKIA, ASIA, ABIA, ACCA
	trSecretWord                      // "ecret" / "ECRET" (aws_secret_access_key, --secret-key)
	trGCPAPIKey                       // AIza
	trServiceAcct                     // service_account
	trB64JSON                         // "ew" / "ey": may start base64 of JSON
	trAzureQ                          // Q~
	trAccountKey                      // AccountKey=
	trGitLab                          // gl
	trGitLabRunner                    // GR1348941
	trVault                           // hv
	trVaultWord                       // vault (any case)
	trPrivateKey                      // -----BEGIN
	trLogin                           // login
	trAuths                           // "auths"
	trURL                             // ://
	trNpm                             // npm_
	trAuthToken                       // _authToken
	trPyPI                            // pypi-
	trGitHub                          // gh?_ and github_pat_
	trSlack                           // xox
	trAssign                          // NAME= (an upper-case shell variable assigned)
	trStripe                          // sk_ / rk_ followed by live_, test_ or prod_
	trSendGrid                        // SG.
	trRubyGems                        // rubygems_
	trSlackHook                       // hooks.slack.com/ (a webhook URL may be written without its scheme)
)

// pairs maps the first two bytes of each keyword to the keyword checks to
// run there (index into pairChecks), so the loop looks up one table entry
// per byte and most bytes go no further.
var pairs = func() (t [1 << 16]uint8) {
	for k, p := range pairKeys {
		for _, two := range p {
			t[uint16(two[0])<<8|uint16(two[1])] = uint8(k + 1)
		}
	}
	return t
}()

// pairKeys lists, per check, the two-byte starts that lead to it.
var pairKeys = [...][]string{
	0:  {"AK", "AS", "AB", "AC", "AI", "Ac"},
	1:  {"Q~"},
	2:  {"gl", "gh", "gi"},
	3:  {"GR"},
	4:  {"hv"},
	5:  {"--"},
	6:  {"lo"},
	7:  {":/"},
	8:  {"np"},
	9:  {"_a"},
	10: {"py"},
	11: {"xo"},
	12: {"ew", "ey", "Ew", "Ey", "ec", "EC"},
	13: {"se"},
	14: {"va", "Va", "VA"},
	15: {"\"a"},
	16: assignPairs(),
	17: {"sk", "rk"},
	18: {"SG"},
	19: {"ru"},
	20: {"ho"},
}

// assignPairs are the last character of an upper-case variable name
// followed by "=".
func assignPairs() []string {
	var out []string
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" {
		out = append(out, string(c)+"=")
	}
	return out
}

func triggers(v string) uint32 {
	var f uint32
	n := len(v)
	for i := 0; i+1 < n; i++ {
		k := pairs[uint16(v[i])<<8|uint16(v[i+1])]
		if k == 0 {
			continue
		}
		r := v[i:]
		switch k - 1 {
		case 0:
			if len(r) >= 20 {
				switch r[:4] {
				case "AKIA", "ASIA", "ABIA", "ACCA":
					f |= trAWSKeyID
				}
			}
			if strings.HasPrefix(r, "AIza") {
				f |= trGCPAPIKey
			} else if strings.HasPrefix(r, "AccountKey=") {
				f |= trAccountKey
			}
		case 1:
			f |= trAzureQ
		case 2:
			switch r[1] {
			case 'l':
				f |= trGitLab
			case 'h':
				f |= trGitHub
			case 'i':
				if strings.HasPrefix(r, "github_pat_") {
					f |= trGitHub
				}
			}
		case 3:
			if strings.HasPrefix(r, "GR1348941") {
				f |= trGitLabRunner
			}
		case 4:
			if len(r) > 3 && r[3] == '.' {
				f |= trVault
			}
		case 5:
			if strings.HasPrefix(r, "-----BEGIN ") {
				f |= trPrivateKey
			}
		case 6:
			if strings.HasPrefix(r, "login") {
				f |= trLogin
			}
		case 7:
			if i > 0 && v[i] == ':' && strings.HasPrefix(r, "://") {
				f |= trURL
			}
		case 8:
			if strings.HasPrefix(r, "npm_") {
				f |= trNpm
			}
		case 9:
			if strings.HasPrefix(r, "_authToken") {
				f |= trAuthToken
			}
		case 10:
			if strings.HasPrefix(r, "pypi-") {
				f |= trPyPI
			}
		case 11:
			if strings.HasPrefix(r, "xox") {
				f |= trSlack
			}
		case 12:
			if r[1]|0x20 == 'w' || r[1]|0x20 == 'y' {
				if r[0] == 'e' {
					f |= trB64JSON
				}
			} else if strings.HasPrefix(r, "ecret") || strings.HasPrefix(r, "ECRET") {
				f |= trSecretWord
			}
		case 13:
			if strings.HasPrefix(r, "service_account") {
				f |= trServiceAcct
			}
		case 14:
			if len(r) >= 5 && indexFold(r[:5], "vault") == 0 {
				f |= trVaultWord
			}
		case 15:
			if strings.HasPrefix(r, `"auths`) {
				f |= trAuths
			}
		case 16:
			f |= trAssign
		case 17:
			if len(r) > 8 && r[2] == '_' {
				switch r[3:8] {
				case "live_", "test_", "prod_":
					f |= trStripe
				}
			}
		case 18:
			if len(r) > 2 && r[2] == '.' {
				f |= trSendGrid
			}
		case 19:
			if strings.HasPrefix(r, "rubygems_") {
				f |= trRubyGems
			}
		case 20:
			if strings.HasPrefix(r, "hooks.slack.com/") {
				f |= trSlackHook
			}
		}
	}
	return f
}
