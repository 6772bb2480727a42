package detect

import "strings"

// Chat webhook URLs and SaaS API keys that CI jobs post to or call (issue
// 16). A webhook URL is its own credential: whoever has it can post to the
// channel. Each pattern cites the rule it follows; where gitleaks has no
// rule (Discord, Google Chat and Mattermost webhooks), the vendor's
// documentation of the URL does.
var serviceFamily = family{
	detectors: []detector{
		// gitleaks config/gitleaks.toml, slack-webhook-url:
		// hooks.slack.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}
		{Info{"slack-webhook-url", KindChatWebhook, "Slack incoming webhook URL (hooks.slack.com/services/)"}, rankStructured},
		// https://discord.com/developers/docs/resources/webhook#execute-webhook:
		// /webhooks/{webhook.id}/{webhook.token}; the id is a snowflake
		// (17-20 digits), the token a 68-character base64url string.
		{Info{"discord-webhook-url", KindChatWebhook, "Discord webhook URL (discord.com/api/webhooks/)"}, rankStructured},
		// gitleaks config/gitleaks.toml, microsoft-teams-webhook:
		// https://[a-z0-9]+.webhook.office.com/webhookb2/<guid>@<guid>/IncomingWebhook/[a-z0-9]{32}/<guid>
		{Info{"teams-webhook-url", KindChatWebhook, "Microsoft Teams incoming webhook URL (webhook.office.com/webhookb2/)"}, rankStructured},
		// https://developers.google.com/workspace/chat/quickstart/webhooks:
		// https://chat.googleapis.com/v1/spaces/SPACE/messages?key=KEY&token=TOKEN
		{Info{"google-chat-webhook-url", KindChatWebhook, "Google Chat webhook URL (chat.googleapis.com/v1/spaces/, key and token)"}, rankStructured},
		// https://developers.mattermost.com/integrate/webhooks/incoming/:
		// https://SERVER/hooks/KEY, the key 26 lower-case letters and
		// digits (Mattermost ids). Any host: medium confidence.
		{Info{"mattermost-webhook-url", KindChatWebhook, "Mattermost incoming webhook URL (/hooks/ and a 26-character key)"}, rankContext},
		// gitleaks config/gitleaks.toml, stripe-access-token:
		// (?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99}. Publishable
		// keys (pk_) are public and not matched.
		{Info{"stripe-secret-key", KindSaaSToken, "Stripe secret or restricted key (sk_live_, rk_live_)"}, rankPrefix},
		// gitleaks config/gitleaks.toml, sendgrid-api-token:
		// SG\.(?i)[a-z0-9=_\-\.]{66}
		{Info{"sendgrid-api-key", KindSaaSToken, "SendGrid API key (SG.)"}, rankPrefix},
		// gitleaks config/gitleaks.toml, rubygems-api-token:
		// rubygems_[a-f0-9]{48}
		{Info{"rubygems-api-key", KindPackageToken, "RubyGems.org API key (rubygems_)"}, rankPrefix},
	},
}

// descStripeTest describes a test-mode key: it moves no money, but reads
// and writes the account's test data.
const descStripeTest = "Stripe test-mode secret or restricted key (sk_test_, rk_test_)"

func scanServices(s *scanner) {
	if s.has(trURL | trSlackHook) {
		scanWebhooks(s)
	}
	if s.has(trStripe) {
		for _, p := range []string{"sk_live_", "rk_live_", "sk_prod_", "rk_prod_"} {
			prefixed(s, p, "stripe-secret-key", isAlnum, 10, 99)
		}
		for _, p := range []string{"sk_test_", "rk_test_"} {
			prefixedConf(s, p, "stripe-secret-key", isAlnum, 10, 99, Medium, descStripeTest)
		}
	}
	if s.has(trSendGrid) {
		prefixed(s, "SG.", "sendgrid-api-key", func(c byte) bool { return isB64URL(c) || c == '.' || c == '=' }, 66, 66)
	}
	if s.has(trRubyGems) {
		prefixed(s, "rubygems_", "rubygems-api-key", func(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }, 48, 48)
	}
}

// isURLChar is a byte a URL written in YAML or a shell line may hold.
func isURLChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune("\"'<>`\\{}|^", rune(c))
}

// webhook is one chat service's URL: where its path starts (marker) and
// what the rest must look like.
type webhook struct {
	id     string
	marker string
	// body checks the URL's tail after marker and returns its length,
	// 0 when it is not a webhook.
	body func(tail string) int
	conf Confidence
	// anyHost: marker is a path on any host, so the URL must have a
	// scheme and a host before it.
	anyHost bool
}

var webhooks = []webhook{
	{id: "slack-webhook-url", marker: "hooks.slack.com/", body: slackBody, conf: High},
	{id: "discord-webhook-url", marker: "discord.com/api/webhooks/", body: discordBody, conf: High},
	{id: "discord-webhook-url", marker: "discordapp.com/api/webhooks/", body: discordBody, conf: High},
	{id: "teams-webhook-url", marker: ".webhook.office.com/webhookb2/", body: teamsBody, conf: High},
	{id: "google-chat-webhook-url", marker: "chat.googleapis.com/v1/spaces/", body: googleChatBody, conf: High},
	{id: "mattermost-webhook-url", marker: "/hooks/", body: mattermostBody, conf: Medium, anyHost: true},
}

func scanWebhooks(s *scanner) {
	v := s.v
	for _, w := range webhooks {
		for i := 0; ; {
			j := strings.Index(v[i:], w.marker)
			if j < 0 {
				break
			}
			at := i + j
			i = at + len(w.marker)
			start, ok := urlStart(v, at, w.anyHost)
			if !ok {
				continue
			}
			n := w.body(v[i:])
			if n == 0 {
				continue
			}
			s.add(w.id, start, i+n, w.conf, "")
			i += n
		}
	}
}

// urlStart returns where the URL holding v[at:] starts: at its scheme, or
// at the host for a URL written without one (hooks.slack.com/…). A marker
// that starts with a dot follows a subdomain (Teams' tenant). With anyHost
// the marker is a path and must follow a scheme and a host.
func urlStart(v string, at int, anyHost bool) (int, bool) {
	h := at
	if anyHost {
		for h > 0 && isURLChar(v[h-1]) && v[h-1] != '/' {
			h--
		}
		if h == at || strings.ContainsAny(v[h:at], "?#") {
			return 0, false
		}
	} else if v[at] == '.' {
		for h > 0 && (isLower(v[h-1]) || isDigit(v[h-1]) || v[h-1] == '-') {
			h--
		}
		if h == at {
			return 0, false
		}
	}
	if h >= 3 && v[h-3:h] == "://" {
		st := h - 3
		for st > 0 && isLower(v[st-1]|0x20) {
			st--
		}
		return st, st < h-3 && leftBounded(v, st)
	}
	if anyHost {
		return 0, false
	}
	// No scheme: the host must stand alone (not evilhooks.slack.com,
	// not a path of another URL).
	return h, leftBounded(v, h) && (h == 0 || !strings.ContainsRune("./-_@:", rune(v[h-1])))
}

// secretPart reports whether a webhook's secret segment is random, not a
// documentation placeholder (XXXXXXXX, your-token).
func secretPart(seg string) bool {
	return !isPlaceholder(seg) && Entropy(seg) >= 3.0
}

func slackBody(tail string) int {
	for _, p := range []string{"services/", "workflows/", "triggers/"} {
		if !strings.HasPrefix(tail, p) {
			continue
		}
		end := runEnd(tail, len(p), func(c byte) bool { return isAlnum(c) || c == '/' || c == '+' })
		body := strings.TrimRight(tail[len(p):end], "/")
		if n := len(body); n < 43 || n > 56 {
			return 0
		}
		if !secretPart(body[strings.LastIndexByte(body, '/')+1:]) {
			return 0
		}
		return len(p) + len(body)
	}
	return 0
}

func discordBody(tail string) int {
	id := runEnd(tail, 0, isDigit)
	if id < 17 || id > 20 || id >= len(tail) || tail[id] != '/' {
		return 0
	}
	end := runEnd(tail, id+1, isB64URL)
	if n := end - id - 1; n < 60 || n > 100 || !secretPart(tail[id+1:end]) {
		return 0
	}
	return end
}

func teamsBody(tail string) int {
	end := runEnd(tail, 0, func(c byte) bool { return isAlnum(c) || c == '-' || c == '@' || c == '/' })
	body := strings.TrimRight(tail[:end], "/")
	const in = "/IncomingWebhook/"
	k := strings.Index(body, in)
	if k < 0 || !strings.Contains(body[:k], "@") {
		return 0
	}
	secret, _, _ := strings.Cut(body[k+len(in):], "/")
	if len(secret) != 32 || !all(secret, isAlnum) || !secretPart(secret) {
		return 0
	}
	return len(body)
}

func googleChatBody(tail string) int {
	end := runEnd(tail, 0, func(c byte) bool { return isURLChar(c) && c != '#' })
	body := tail[:end]
	_, query, ok := strings.Cut(body, "?")
	if !ok {
		return 0
	}
	for _, kv := range strings.Split(query, "&") {
		if tok, ok := strings.CutPrefix(kv, "token="); ok && len(tok) >= 20 && secretPart(tok) {
			return len(body)
		}
	}
	return 0
}

func mattermostBody(tail string) int {
	end := runEnd(tail, 0, func(c byte) bool { return isLower(c) || isDigit(c) })
	if end != 26 || (end < len(tail) && (isAlnum(tail[end]) || tail[end] == '/' || tail[end] == '-' || tail[end] == '_')) {
		return 0
	}
	key := tail[:end]
	if all(key, isDigit) || !secretPart(key) {
		return 0
	}
	return end
}
