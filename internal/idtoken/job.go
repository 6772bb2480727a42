package idtoken

import (
	"strconv"
	"time"
)

// JobDeadline is when GitLab will stop the job: CI_JOB_STARTED_AT plus
// CI_JOB_TIMEOUT (seconds), the predefined variables
// (https://docs.gitlab.com/ci/variables/predefined_variables/). GitLab's ID
// tokens live as long as that timeout, so it is what a token's and a
// credential's lifetime are measured against. ok is false outside CI or
// when either variable is missing or unreadable: without the start, the
// time left is unknown (issue 14).
func JobDeadline(getenv func(string) string) (deadline time.Time, ok bool) {
	started, err := time.Parse(time.RFC3339, getenv("CI_JOB_STARTED_AT"))
	if err != nil {
		return time.Time{}, false
	}
	secs, err := strconv.Atoi(getenv("CI_JOB_TIMEOUT"))
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return started.Add(time.Duration(secs) * time.Second), true
}
