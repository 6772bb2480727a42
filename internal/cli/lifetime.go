package cli

import (
	"fmt"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// lifetimeWarning is the pre-flight every provider runs after an exchange:
// when the credentials (or, with refreshable credentials, the ID token the
// SDKs re-exchange) expire before the job's timeout could end it, the job
// may fail half-way, so say so on stderr with what to change. It returns ""
// when there is nothing to say.
func lifetimeWarning(provider string, getenv func(string) string, expires time.Time, refreshable bool, fix string) string {
	deadline, ok := idtoken.JobDeadline(getenv)
	if !ok || expires.IsZero() || !expires.Before(deadline) {
		return ""
	}
	what := "credentials"
	if refreshable {
		what = "ID token, which the SDKs re-exchange,"
	}
	return fmt.Sprintf("keyless: %s: warning: the %s expire at %s, %s before the job's timeout (%s, CI_JOB_TIMEOUT) could end it; "+
		"a job that runs that long fails half-way. %s\n",
		provider, what, expires.UTC().Format(time.RFC3339), deadline.Sub(expires).Round(time.Second), deadline.UTC().Format(time.RFC3339), fix)
}
