package lint

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// This file exports what the stored-* cloud rules see of each job, for
// keyless migrate (issue 17): which jobs use which stored credential, by
// the same signals the findings come from, so that migrate and lint cannot
// disagree on which jobs need the exchange.

// StoredUse is one job's use of a stored cloud credential.
type StoredUse struct {
	// Job is the job's name.
	Job string
	// Rule is the stored-* rule id ("stored-aws-keys").
	Rule string
	// Replacement is the keyless component that replaces the credential
	// ("aws", "gcp", "azure", "vault").
	Replacement string
	// Signals are the signs of the use, in the rule's order.
	Signals []StoredSignal
}

// StoredSignal is one sign that a job uses a stored credential.
type StoredSignal struct {
	Pos        pipeline.Pos
	Confidence Confidence
	// What says what the job does, as the finding's message does; it
	// never holds a value.
	What string
	// Implicit is a tool that reads the credential from the environment
	// with no credential in sight.
	Implicit bool
}

// storedCloudRules are the rules whose credential a keyless cloud
// component replaces.
var storedCloudRules = []storedRule{storedAWSKeys, storedGCPKey, storedAzureSecret, storedVaultToken, storedVaultPassword}

// StoredUses returns the stored cloud credentials each job of p (not of
// its child pipelines) uses, in job order, then rule order. A job that
// already exchanges its ID token for a cloud has no use of that cloud.
func StoredUses(p *pipeline.Pipeline) []StoredUse {
	pass := &Pass{Pipeline: p, report: func(Finding) {}}
	cfg := pass.configFacts()
	var out []StoredUse
	for _, ji := range pass.jobInfos() {
		for _, r := range storedCloudRules {
			if r.exchanged(ji) {
				continue
			}
			sigs := r.signals(ji, cfg)
			if len(sigs) == 0 {
				continue
			}
			u := StoredUse{Job: ji.job.Name, Rule: r.meta.ID, Replacement: r.replacement}
			for _, s := range sigs {
				u.Signals = append(u.Signals, StoredSignal{Pos: s.pos, Confidence: s.conf, What: s.what,
					Implicit: strings.HasPrefix(s.key, "implicit\x00")})
			}
			out = append(out, u)
		}
		// Package registries' tokens (stored-package-token), which the
		// pypi and npm components replace (issue 18).
		for _, reg := range packageRegistries {
			if packageExchanged(ji, reg) || !publishesTo(ji, reg) {
				continue
			}
			sigs := packageSignals(ji, reg)
			if len(sigs) == 0 {
				continue
			}
			u := StoredUse{Job: ji.job.Name, Rule: storedPackageToken.meta.ID, Replacement: reg.name}
			for _, s := range sigs {
				u.Signals = append(u.Signals, StoredSignal{Pos: s.pos, Confidence: s.conf, What: s.what})
			}
			out = append(out, u)
		}
	}
	return out
}
