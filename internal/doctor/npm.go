package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// npmExchanges is the first npm that exchanges NPM_ID_TOKEN itself on npm
// publish (https://docs.npmjs.com/trusted-publishers: "npm CLI version
// 11.5.1 or later"; lib/utils/oidc.js reads process.env.NPM_ID_TOKEN).
var npmExchanges = [3]int{11, 5, 1}

// npmCase says which case of npm trusted publishing a job is in (issue
// 18): npm 11.5.1 or later exchanges NPM_ID_TOKEN by itself; an older npm,
// pnpm and yarn need keyless npm (the npm provider). It adds nothing when
// the job has neither NPM_ID_TOKEN nor the npm provider.
func (r *run) npmCase() {
	idToken := r.o.Getenv("NPM_ID_TOKEN") != ""
	keyless := false
	for _, p := range r.o.Providers {
		keyless = keyless || p.Name == "npm"
	}
	if !idToken && !keyless {
		return
	}
	version := ""
	if r.o.NpmVersion != nil {
		version = strings.TrimSpace(r.o.NpmVersion())
	}
	const check = "npm trusted publishing"
	switch v, ok := parseVersion(version); {
	case version == "":
		if keyless {
			r.add(OK, check, "npm is not on PATH: keyless npm exchanges the ID token for pnpm or yarn (NODE_AUTH_TOKEN, NPM_CONFIG_USERCONFIG)", "")
		} else {
			r.add(Info, check, "NPM_ID_TOKEN is set, and npm is not on PATH: only npm 11.5.1 or later exchanges it by itself", "for pnpm or yarn, extend the npm component's .keyless-npm, or run keyless npm --package NAME -- CMD")
		}
	case !ok:
		r.add(Info, check, fmt.Sprintf("npm --version printed %q, which is no version keyless can compare with 11.5.1", version), "")
	case !less(v, npmExchanges):
		detail := fmt.Sprintf("npm %s exchanges NPM_ID_TOKEN by itself on npm publish", version)
		if keyless {
			detail += "; keyless npm is needed only for pnpm, yarn or a registry npm does not exchange for"
		}
		r.add(OK, check, detail, "")
	case keyless:
		r.add(OK, check, fmt.Sprintf("npm %s is older than 11.5.1 and does not exchange the ID token: keyless npm does (NODE_AUTH_TOKEN, NPM_CONFIG_USERCONFIG)", version), "")
	default:
		r.add(Warn, check, fmt.Sprintf("npm %s is older than 11.5.1: it ignores NPM_ID_TOKEN, and npm publish fails with ENEEDAUTH", version),
			"npm install -g npm@^11.5.1 in the job, or extend the npm component's .keyless-npm (keyless npm exchanges the token for any client)")
	}
}

func parseVersion(s string) ([3]int, bool) {
	var v [3]int
	s, _, _ = strings.Cut(s, "-") // a prerelease counts as its release
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
