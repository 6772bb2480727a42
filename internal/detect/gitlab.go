package detect

import "strings"

// GitLab tokens carry a documented prefix
// (https://docs.gitlab.com/security/tokens/#token-prefixes). Routable tokens
// (glpat-<base64url>.01.<…>) keep the prefix and add dots, so the body is
// [0-9A-Za-z_.-]{20,}. CI_JOB_TOKEN in a file is always a $reference; a
// literal job token (glcbt-) expires with its job but is still reported.
var gitlabFamily = family{
	detectors: []detector{
		{Info{"gitlab-pat", KindGitLabToken, "GitLab personal, project or group access token (glpat-)"}, rankPrefix},
		{Info{"gitlab-oauth-app-secret", KindGitLabToken, "GitLab OAuth application secret (gloas-)"}, rankPrefix},
		{Info{"gitlab-deploy-token", KindGitLabToken, "GitLab deploy token (gldt-)"}, rankPrefix},
		{Info{"gitlab-runner-token", KindGitLabToken, "GitLab runner authentication token (glrt-)"}, rankPrefix},
		{Info{"gitlab-runner-registration-token", KindGitLabToken, "GitLab runner registration token (glrtr-, GR1348941)"}, rankPrefix},
		{Info{"gitlab-ci-job-token", KindGitLabToken, "GitLab CI/CD job token literal (glcbt-; expires with its job)"}, rankPrefix},
		{Info{"gitlab-trigger-token", KindGitLabToken, "GitLab pipeline trigger token (glptt-)"}, rankPrefix},
		{Info{"gitlab-feed-token", KindGitLabToken, "GitLab feed token (glft-)"}, rankPrefix},
		{Info{"gitlab-incoming-mail-token", KindGitLabToken, "GitLab incoming email token (glimt-)"}, rankPrefix},
		{Info{"gitlab-agent-token", KindGitLabToken, "GitLab agent for Kubernetes token (glagent-)"}, rankPrefix},
		{Info{"gitlab-scim-token", KindGitLabToken, "GitLab SCIM token (glsoat-)"}, rankPrefix},
		{Info{"gitlab-feature-flag-token", KindGitLabToken, "GitLab feature flags client token (glffct-)"}, rankPrefix},
		{Info{"gitlab-workspace-token", KindGitLabToken, "GitLab workspace token (glwt-)"}, rankPrefix},
		{Info{"gitlab-token", KindGitLabToken, "GitLab token (gltst-, glnet-)"}, rankPrefix},
	},
}

// gitlabPrefixes maps each prefix (after "gl") to its detector.
var gitlabPrefixes = []struct {
	rest, id string
	conf     Confidence
}{
	{"pat-", "gitlab-pat", High},
	{"oas-", "gitlab-oauth-app-secret", High},
	{"dt-", "gitlab-deploy-token", High},
	{"rt-", "gitlab-runner-token", High},
	{"rtr-", "gitlab-runner-registration-token", High},
	{"cbt-", "gitlab-ci-job-token", Medium},
	{"ptt-", "gitlab-trigger-token", High},
	{"ft-", "gitlab-feed-token", High},
	{"imt-", "gitlab-incoming-mail-token", High},
	{"agent-", "gitlab-agent-token", High},
	{"soat-", "gitlab-scim-token", High},
	{"ffct-", "gitlab-feature-flag-token", High},
	{"wt-", "gitlab-workspace-token", High},
	{"tst-", "gitlab-token", High},
	{"net-", "gitlab-token", High},
}

const runnerRegistrationPrefix = "GR1348941"

func scanGitLab(s *scanner) {
	v := s.v
	for i := 0; s.has(trGitLab); {
		j := strings.Index(v[i:], "gl")
		if j < 0 {
			break
		}
		at := i + j
		i = at + 2
		if !leftBounded(v, at) {
			continue
		}
		rest := v[at+2:]
		for _, p := range gitlabPrefixes {
			if !strings.HasPrefix(rest, p.rest) {
				continue
			}
			bodyStart := at + 2 + len(p.rest)
			end, ok := tokenBody(v, bodyStart, isTokenChar, 20)
			if ok {
				s.add(p.id, at, end, p.conf, "")
			}
			// A token cannot start inside the run just read.
			i = end
			break
		}
	}
	for i := 0; s.has(trGitLabRunner); {
		j := strings.Index(v[i:], runnerRegistrationPrefix)
		if j < 0 {
			return
		}
		at := i + j
		i = at + len(runnerRegistrationPrefix)
		if !leftBounded(v, at) {
			continue
		}
		end, ok := tokenBody(v, i, isB64URL, 20)
		if ok {
			s.add("gitlab-runner-registration-token", at, end, High, "")
		}
		i = end
	}
}

// maxTokenBody bounds a prefixed token's body: the longest documented
// tokens (routable ones, Vault batch tokens) stay well below it.
const maxTokenBody = 1024

// tokenBody checks the body of a prefixed token starting at start: at
// least min bytes of class, not a placeholder, random-looking. It returns
// the end of the token (a trailing dot, the end of a sentence, is not part
// of it), or of the rejected run.
func tokenBody(v string, start int, class func(byte) bool, min int) (int, bool) {
	end := runEnd(v, start, class)
	for end > start && v[end-1] == '.' {
		end--
	}
	body := v[start:end]
	if len(body) < min || len(body) > maxTokenBody || isPlaceholder(body) || Entropy(body) < 3.0 {
		return end, false
	}
	return end, true
}
