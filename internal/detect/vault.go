package detect

import "strings"

// Vault tokens: since Vault 1.10 service, batch and recovery tokens start
// with hvs., hvb. and hvr.
// (https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes).
// Legacy tokens, s. plus 24 base62 characters, look like too many other
// things to be reported without context.
var vaultFamily = family{
	detectors: []detector{
		{Info{"vault-token", KindVaultToken, "HashiCorp Vault token (hvs. service, hvb. batch, hvr. recovery)"}, rankPrefix},
		{Info{"vault-legacy-token", KindVaultToken, "HashiCorp Vault legacy token (s.…) in VAULT_TOKEN, vault login or X-Vault-Token"}, rankContext},
	},
}

const (
	descVaultService  = "HashiCorp Vault service token (hvs.)"
	descVaultBatch    = "HashiCorp Vault batch token (hvb.; expires, lower severity)"
	descVaultRecovery = "HashiCorp Vault recovery token (hvr.)"
)

var vaultLegacyMarkers = []string{"vault login", "x-vault-token", "vault_token"}

func scanVault(s *scanner) {
	v := s.v
	for i := 0; s.has(trVault); {
		j := strings.Index(v[i:], "hv")
		if j < 0 {
			break
		}
		at := i + j
		i = at + 2
		if at+4 > len(v) || v[at+3] != '.' || !leftBounded(v, at) {
			continue
		}
		var desc string
		switch v[at+2] {
		case 's':
			desc = descVaultService
		case 'b':
			desc = descVaultBatch
		case 'r':
			desc = descVaultRecovery
		default:
			continue
		}
		end, ok := tokenBody(v, at+4, isB64URL, 24)
		if ok {
			s.add("vault-token", at, end, High, desc)
		}
		i = end
	}

	keyCtx := strings.Contains(s.keyUpper, "VAULT_TOKEN")
	if !keyCtx && !s.has(trVaultWord) {
		return
	}
	for i := 0; ; {
		j := strings.Index(v[i:], "s.")
		if j < 0 {
			return
		}
		at := i + j
		i = at + 2
		if !leftBounded(v, at) {
			continue
		}
		end := runEnd(v, at+2, isAlnum)
		if end-at-2 != 24 || (end < len(v) && isB64URL(v[end])) {
			continue
		}
		body := v[at+2 : end]
		if isPlaceholder(body) || Entropy(body) < 3.5 || classes(body) < 2 {
			continue
		}
		if !keyCtx && markerBefore(v, at, 40, vaultLegacyMarkers) == "" {
			continue
		}
		s.add("vault-legacy-token", at, end, High, "")
		i = end
	}
}
