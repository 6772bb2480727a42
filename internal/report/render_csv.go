package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// csvRenderer writes one row per credential, most exposed first, under a
// header row, for a spreadsheet. A report without credentials is the
// header alone. Lists are joined with ";".
type csvRenderer struct{}

var csvHeader = []string{
	"id", "key", "level", "owner", "environment_scope", "variable_type", "kind", "confidence",
	"protected", "masked", "hidden", "exposure", "usage_count", "projects", "component",
}

func (csvRenderer) Render(w io.Writer, r *Report) error {
	if r == nil {
		return errNilReport
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, c := range readingOrder(r) {
		row := []string{
			c.ID, c.Key, c.Level, c.Owner, c.EnvironmentScope, c.Type, c.Kind, c.Confidence,
			strconv.FormatBool(c.Protected), strconv.FormatBool(c.Masked), strconv.FormatBool(c.Hidden),
			strings.Join(sortedExposure(c.Exposure), ";"),
			strconv.Itoa(len(c.Usage)),
			strings.Join(usageProjects(c), ";"),
			c.Replacement.Component,
		}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvCell neutralises formula injection: a spreadsheet runs a cell that
// starts with = + - @ (or a tab or carriage return, which some strip
// first) as a formula, so such a cell gets a leading apostrophe
// (https://owasp.org/www-community/attacks/CSV_Injection).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
