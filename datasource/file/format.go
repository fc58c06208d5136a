package file

import (
	"path/filepath"
	"strings"

	"github.com/sluice-go/sluice/datasource"
)

var _ datasource.FormatSuggester = (*Source)(nil)

// SuggestFormat returns the format the file's extension names, in any
// case: YAML for .yaml and .yml, JSON for .json, else datasource.Auto
// (none). A binding whose Config.Format is Auto reads the file so; a file
// of Sentinel Go's rule JSON needs Config.Format SentinelJSON.
func (s *Source) SuggestFormat() (datasource.Format, string) {
	const why = "from the file's extension"
	switch strings.ToLower(filepath.Ext(s.path)) {
	case ".yaml", ".yml":
		return datasource.YAML, why
	case ".json":
		return datasource.JSON, why
	}
	return datasource.Auto, ""
}
