package datasource

// FormatSuggester is implemented by a Source that can tell how its
// payloads are written, as the file source does from the file's
// extension. A binding whose Config.Format is Auto reads the payloads in
// the suggested format.
type FormatSuggester interface {
	// SuggestFormat returns the format and why, in words that follow the
	// format's name in an error ("YAML, from the file's extension"), or
	// Auto if it cannot tell.
	SuggestFormat() (f Format, why string)
}

// chooseFormat returns the format a binding reads src's payloads in, and
// why: the one configured, else the source's suggestion, else JSON.
func chooseFormat(configured Format, src Source) (Format, string) {
	if configured != Auto {
		return configured, "from Config.Format"
	}
	if s, ok := src.(FormatSuggester); ok {
		if f, why := s.SuggestFormat(); f != Auto {
			if why == "" {
				why = "suggested by the source"
			}
			return f, why
		}
	}
	return JSON, "the default (Config.Format is Auto and the source suggests none)"
}
