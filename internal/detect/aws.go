package detect

import "strings"

// AWS access keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
// lists the four-letter prefixes of unique ids. Only AKIA (long-lived
// access key), ASIA (temporary, from STS), ABIA (STS service bearer token)
// and ACCA (context-specific credential) are credentials; AGPA, AIDA, AROA,
// AIPA, ANPA, ANVA and APKA name groups, users, roles, instance profiles,
// policies and public keys, which are not secrets.
var awsFamily = family{
	detectors: []detector{
		{Info{AWSAccessKeyIDDetector, KindAWSAccessKey, "AWS access key id (AKIA long-lived; ASIA temporary, lower severity)"}, rankPrefix},
		{Info{AWSSecretAccessKeyDetector, KindAWSAccessKey, "AWS secret access key (40 characters, found by its variable name or command option)"}, rankContext},
	},
}

const (
	descAWSKeyID     = "AWS access key id (long-lived)"
	descAWSTempKeyID = "AWS temporary access key id (ASIA, issued by STS; expires, lower severity)"
)

func scanAWS(s *scanner) {
	if s.has(trAWSKeyID) {
		scanAWSKeyID(s)
	}
	scanAWSSecretKey(s)
}

func scanAWSKeyID(s *scanner) {
	v := s.v
	// Every credential prefix starts with 'A' and has 'A' or 'I' at index 3
	// (AKIA, ASIA, ABIA, ACCA); look for the rarer two-letter pairs.
	for i := 0; i+20 <= len(v); i++ {
		j := strings.IndexByte(v[i:len(v)-19], 'A')
		if j < 0 {
			return
		}
		i += j
		p := v[i : i+4]
		var conf Confidence
		desc := descAWSKeyID
		switch p {
		case "AKIA", "ABIA", "ACCA":
			conf = High
		case "ASIA":
			conf, desc = Medium, descAWSTempKeyID
		default:
			continue
		}
		if !leftBounded(v, i) {
			continue
		}
		end := runEnd(v, i+4, isAlnum)
		if end-i != 20 || !all(v[i+4:end], isUpperAlnum) {
			continue
		}
		body := v[i+4 : end]
		if isPlaceholder(v[i:end]) || Entropy(body) < 2.5 {
			continue
		}
		s.add(AWSAccessKeyIDDetector, i, end, conf, desc)
		i = end - 1
	}
}

// awsSecretMarkers are what precede a secret access key in a command or a
// config line.
var awsSecretMarkers = []string{
	"aws_secret_access_key", "secret_access_key", "secretaccesskey",
	"secret-access-key", "secret-key", "secret_key", "secretkey",
}

// awsSecretKeyName reports a variable name that holds an AWS secret access
// key: AWS_SECRET_ACCESS_KEY, or any secret name with SECRET and KEY in it.
func (s *scanner) awsSecretKeyName() (ok, aws bool) {
	k := s.keyUpper
	if !s.keySecret || !strings.Contains(k, "SECRET") || !strings.Contains(k, "KEY") {
		return false, false
	}
	return true, strings.Contains(k, "AWS") || strings.Contains(k, "ACCESS")
}

func scanAWSSecretKey(s *scanner) {
	v := s.v
	if len(v) < 40 {
		return
	}
	keyOK, awsKey := s.awsSecretKeyName()
	if !keyOK && !s.has(trSecretWord) {
		return
	}
	for i := 0; i < len(v); {
		if !isB64(v[i]) {
			i++
			continue
		}
		end := runEnd(v, i, isB64)
		start := i
		i = end
		if end-start != 40 || (end < len(v) && (v[end] == '=' && end+1 < len(v) && isB64(v[end+1]))) {
			continue
		}
		if start > 0 && (v[start-1] == '_' || v[start-1] == '-') {
			continue
		}
		cand := v[start:end]
		if all(cand, isHex) || classes(cand) < 3 || Entropy(cand) < 4.0 || isPlaceholder(cand) {
			continue
		}
		conf := Confidence(0)
		switch {
		case keyOK && awsKey:
			conf = High
		case keyOK:
			conf = Medium
		}
		if m := markerBefore(v, start, 48, awsSecretMarkers); m != "" {
			conf = High
		}
		if conf == 0 {
			continue
		}
		s.add(AWSSecretAccessKeyDetector, start, end, conf, "")
	}
}

// markerBefore returns the first marker found (case-insensitively) in the
// window bytes before i, or "".
func markerBefore(v string, i, window int, markers []string) string {
	from := i - window
	if from < 0 {
		from = 0
	}
	w := v[from:i]
	for _, m := range markers {
		if hasFold(w, m) {
			return m
		}
	}
	return ""
}
