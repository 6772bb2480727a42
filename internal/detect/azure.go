package detect

import "strings"

// Azure: Entra ID client secrets issued since 2021 carry "Q~" at index 4
// (https://learn.microsoft.com/en-us/purview/sit-defn-azure-ad-client-secret);
// older ones are recognised by their variable name or by
// `az login --service-principal -p`. Storage account keys are 64 random
// bytes, base64: 88 characters ending in "==".
var azureFamily = family{
	detectors: []detector{
		{Info{"azure-client-secret", KindAzureSecret, "Azure Entra ID client secret (…Q~…)"}, rankPrefix},
		{Info{"azure-client-secret-variable", KindAzureSecret, "Azure client secret in ARM_CLIENT_SECRET or AZURE_CLIENT_SECRET"}, rankContext},
		{Info{"azure-cli-password", KindAzureSecret, "service principal secret given to az login -p"}, rankContext},
		{Info{"azure-storage-account-key", KindAzureStorageKey, "Azure storage account key (AccountKey=)"}, rankPrefix},
	},
}

func isAzureSecretChar(c byte) bool { return isB64URL(c) || c == '~' || c == '.' }

func scanAzure(s *scanner) {
	if s.has(trAzureQ) {
		scanAzureQ(s)
	}
	if s.azureSecretName() {
		scanAzureVariable(s)
	}
	if s.has(trLogin) {
		scanAzLogin(s)
	}
	if s.has(trAccountKey) || s.storageKeyName() {
		scanStorageKey(s)
	}
}

func scanAzureQ(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], "Q~")
		if j < 0 {
			return
		}
		q := i + j
		i = q + 2
		start := q - 4
		if start < 0 || !isDigit(v[q-1]) || !all(v[start:q-1], isAzureSecretChar) {
			continue
		}
		if start > 0 && isAzureSecretChar(v[start-1]) {
			continue
		}
		end := runEnd(v, q+2, isAzureSecretChar)
		n := end - (q + 2)
		if n < 31 || n > 34 {
			continue
		}
		cand := v[start:end]
		if isPlaceholder(v[q+2:end]) || Entropy(cand) < 3.5 {
			continue
		}
		s.add("azure-client-secret", start, end, High, "")
		i = end
	}
}

// azureSecretName reports ARM_CLIENT_SECRET, AZURE_CLIENT_SECRET and the
// like.
func (s *scanner) azureSecretName() bool {
	k := s.keyUpper
	return s.keySecret && strings.Contains(k, "CLIENT_SECRET") && (strings.Contains(k, "ARM") || strings.Contains(k, "AZURE") || strings.HasPrefix(k, "AZ_"))
}

func scanAzureVariable(s *scanner) {
	start, end := trimmedValue(s.v)
	val := s.v[start:end]
	if end-start < 16 || strings.ContainsAny(val, " \t\r\n") || Placeholder(val) || Entropy(val) < 3.5 {
		return
	}
	s.add("azure-client-secret-variable", start, end, High, "")
}

// trimmedValue returns the span of v without surrounding space and quotes.
func trimmedValue(v string) (int, int) {
	start, end := 0, len(v)
	for start < end && isSpace(v[start]) {
		start++
	}
	for end > start && isSpace(v[end-1]) {
		end--
	}
	if end-start >= 2 && (v[start] == '"' || v[start] == '\'') && v[end-1] == v[start] {
		start++
		end--
	}
	return start, end
}

func scanAzLogin(s *scanner) {
	v := s.v
	for i := 0; ; {
		j := strings.Index(v[i:], "login")
		if j < 0 {
			return
		}
		at := i + j
		i = at + 5
		if !strings.HasSuffix(strings.TrimRight(v[commandStart(v, at):at], " \t"), "az") {
			continue
		}
		words := shellWords(v, at+5, 64)
		a, ok := optionValue(v, words, "-p", "--password")
		if !ok || !literalSecret(a.val) || certificatePath(a.val) {
			continue
		}
		conf := High
		if len(a.val) < 8 {
			conf = Medium
		}
		s.add("azure-cli-password", a.start, a.end, conf, "")
	}
}

// certificatePath reports an az login -p argument that names a PEM or PFX
// file (certificate authentication) rather than a secret.
func certificatePath(v string) bool {
	l := strings.ToLower(v)
	for _, ext := range []string{".pem", ".pfx", ".crt", ".cer", ".p12", ".key"} {
		if strings.HasSuffix(l, ext) {
			return true
		}
	}
	return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "~/")
}

func (s *scanner) storageKeyName() bool {
	return s.keySecret && strings.Contains(s.keyUpper, "STORAGE") && strings.Contains(s.keyUpper, "KEY")
}

func scanStorageKey(s *scanner) {
	v := s.v
	keyCtx := s.storageKeyName()
	for i := 0; i < len(v); {
		if !isB64(v[i]) {
			i++
			continue
		}
		start := i
		end := runEnd(v, i, isB64)
		i = end
		if end-start != 86 || end+2 > len(v) || v[end:end+2] != "==" {
			continue
		}
		if end+2 < len(v) && isB64(v[end+2]) {
			continue
		}
		if !keyCtx && !strings.HasSuffix(v[:start], "AccountKey=") {
			continue
		}
		if Entropy(v[start:end]) < 4.5 || isPlaceholder(v[start:end]) {
			continue
		}
		s.add("azure-storage-account-key", start, end+2, High, "")
	}
}
