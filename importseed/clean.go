package importseed

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Parley's limits on imported fields (handlers' limits on client input,
// which the seed's own columns fit unless its schema was widened).
const (
	maxIDBytes     = 20  // ids: the seed's VARCHAR(20), handlers' maxIDLen
	maxNameRunes   = 255 // user_name, as register accepts
	maxShortRunes  = 255 // phone, email, avatar, file_path
	maxBodyBytes   = 64 << 10
	maxEnumRunes   = 32 // chat_type, message_type, status values
	seedTimeLayout = "2006-01-02 15:04:05"
)

// badTime replaces a NULL or unreadable (0000-00-00) seed date: the epoch,
// so a repaired chat sorts last rather than first.
var badTime = time.Unix(0, 0).UTC()

// fixer cleans the fields of one row and reports each repair with the row's
// key.
type fixer struct {
	r         *reporter
	step, key string
	repaired  bool
	loc       *time.Location
}

func (f *fixer) fix(what string) {
	f.repaired = true
	f.r.problem(f.step, f.key, what, Repaired)
}

// text returns b as valid UTF-8, at most limit runes (0: maxBodyBytes
// bytes), or ifNull for NULL.
func (f *fixer) text(field string, b []byte, ifNull string, limit int) string {
	if b == nil {
		f.fix(fmt.Sprintf("%s is NULL: set to %q", field, ifNull))
		return ifNull
	}
	s := string(b)
	if !utf8.ValidString(s) {
		f.fix(field + " is not valid UTF-8: bad bytes replaced by U+FFFD")
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if limit > 0 && utf8.RuneCountInString(s) > limit {
		f.fix(fmt.Sprintf("%s longer than %d characters: cut", field, limit))
		s = cutRunes(s, limit)
	} else if limit == 0 && len(s) > maxBodyBytes {
		f.fix(fmt.Sprintf("%s longer than %d bytes: cut", field, maxBodyBytes))
		s = strings.ToValidUTF8(s[:maxBodyBytes], "") // drop a rune cut in half
	}
	return s
}

// nullable is text for a column the seed declares NULL-able: NULL is
// normal there, so it is mapped without a report.
func (f *fixer) nullable(field string, b []byte, ifNull string, limit int) string {
	if b == nil {
		return ifNull
	}
	return f.text(field, b, ifNull, limit)
}

// enum returns b if it is one of allowed, else def (reported). MariaDB
// stores an invalid ENUM value as "" outside strict mode.
func (f *fixer) enum(field string, b []byte, def string, allowed ...string) string {
	s := string(b)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	if b == nil {
		f.fix(fmt.Sprintf("%s is NULL: set to %q", field, def))
	} else {
		f.fix(fmt.Sprintf("%s %s is not one of %s: set to %q", field, quoteShort(s), strings.Join(allowed, "/"), def))
	}
	return def
}

// when parses a seed DATETIME (local time of the seed's server, in loc).
func (f *fixer) when(field string, b []byte) time.Time {
	if b == nil {
		f.fix(field + " is NULL: set to 1970-01-01 00:00:00 UTC")
		return badTime
	}
	s := string(b)
	if i := strings.IndexByte(s, '.'); i > 0 { // DATETIME(n) fractions
		s = s[:i]
	}
	t, err := time.ParseInLocation(seedTimeLayout, s, f.loc)
	if err != nil {
		f.fix(fmt.Sprintf("%s %s is not a date: set to 1970-01-01 00:00:00 UTC", field, quoteShort(string(b))))
		return badTime
	}
	return t
}

// seedID returns b as an id, or why it cannot be one. Ids are keys that
// other rows refer to: they are never repaired, only accepted or refused.
func seedID(b []byte) (string, string) {
	switch {
	case b == nil:
		return "", "is NULL"
	case len(b) == 0:
		return "", "is empty"
	case !utf8.Valid(b):
		return "", "is not valid UTF-8"
	case len(b) > maxIDBytes:
		return "", fmt.Sprintf("is longer than %d bytes", maxIDBytes)
	}
	return string(b), ""
}

// keyOf renders key values for a report: quoted, so invalid bytes and
// spaces show.
func keyOf(pairs ...any) string {
	var sb strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(pairs[i].(string))
		sb.WriteByte('=')
		switch v := pairs[i+1].(type) {
		case []byte:
			sb.WriteString(strconv.Quote(string(v)))
		case string:
			sb.WriteString(strconv.Quote(v))
		default:
			fmt.Fprint(&sb, v)
		}
	}
	return sb.String()
}

func quoteShort(s string) string { return strconv.Quote(cutRunes(s, maxEnumRunes)) }

func cutRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
