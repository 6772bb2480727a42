package pypi

import (
	"io"
	"net/url"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// DefaultRepository names the index for Poetry: pypi for PyPI, testpypi
// for TestPyPI (Poetry's and twine's own names for them).
func DefaultRepository(index string) string {
	if u, err := url.Parse(index); err == nil && strings.EqualFold(u.Hostname(), "test.pypi.org") {
		return "testpypi"
	}
	return "pypi"
}

var repoName = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// CheckRepository returns an error unless name can be a Poetry repository
// name, which becomes part of a variable name.
func CheckRepository(name string) error {
	if !repoName().MatchString(name) {
		return option.Invalid(OptRepository, name, "use letters, digits, '-' and '_', as in poetry publish --repository NAME")
	}
	return nil
}

// poetryName is Poetry's variable spelling of a repository name:
// upper case, '-' as '_' (POETRY_PYPI_TOKEN_<NAME>,
// https://python-poetry.org/docs/repositories/#configuring-credentials).
func poetryName(repo string) string {
	return strings.ToUpper(strings.ReplaceAll(repo, "-", "_"))
}

// Env returns the token as each publishing client reads it (issue 18):
//   - twine: TWINE_USERNAME=__token__ and TWINE_PASSWORD
//     (https://twine.readthedocs.io/en/stable/#environment-variables);
//   - uv: UV_PUBLISH_TOKEN (https://docs.astral.sh/uv/reference/environment/);
//   - Poetry: POETRY_PYPI_TOKEN_<REPOSITORY>.
//
// For an index other than PyPI it also points twine and uv at its upload
// URL (INDEX/legacy/) and defines the Poetry repository, since a token of
// TestPyPI is worthless on PyPI. It unsets the username and password
// variables uv and Poetry would prefer or refuse to mix with a token.
func (c *Credentials) Env(index, repository string) *exchange.Credentials {
	repo := poetryName(repository)
	vars := []exchange.Var{
		{Name: "TWINE_USERNAME", Value: secret.New("__token__")},
		{Name: "TWINE_PASSWORD", Value: c.Token},
		{Name: "UV_PUBLISH_TOKEN", Value: c.Token},
		{Name: "POETRY_PYPI_TOKEN_" + repo, Value: c.Token},
	}
	index = strings.TrimRight(index, "/")
	if index != DefaultIndex {
		upload := index + "/legacy/"
		vars = append(vars,
			exchange.Var{Name: "TWINE_REPOSITORY_URL", Value: secret.New(upload)},
			exchange.Var{Name: "UV_PUBLISH_URL", Value: secret.New(upload)})
		if repository != "pypi" {
			vars = append(vars, exchange.Var{Name: "POETRY_REPOSITORIES_" + repo + "_URL", Value: secret.New(upload)})
		}
	}
	return &exchange.Credentials{
		Provider: "pypi",
		Vars:     vars,
		Unset: []string{"UV_PUBLISH_USERNAME", "UV_PUBLISH_PASSWORD",
			"POETRY_HTTP_BASIC_" + repo + "_USERNAME", "POETRY_HTTP_BASIC_" + repo + "_PASSWORD"},
		Expiration: c.Expiration,
	}
}

// WriteJSON prints the minted token with the index and its expiry.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		Token     string `json:"token"`
		Username  string `json:"username"`
		Index     string `json:"index"`
		Audience  string `json:"audience"`
		ExpiresAt string `json:"expires_at,omitempty"`
	}{Token: c.Token.Reveal(), Username: "__token__", Index: c.Index, Audience: c.Audience}
	if !c.Expiration.IsZero() {
		out.ExpiresAt = c.Expiration.UTC().Format(time.RFC3339)
	}
	return exchange.WriteJSON(w, out)
}
