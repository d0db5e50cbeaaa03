package cluster

import (
	"encoding/hex"
	"strings"
)

// subject is prefix.name.
func (d *Directory) subject(name string) string { return d.cfg.SubjectPrefix + "." + name }

// userSubject is prefix.u.<token>, the subject of one user's pushes.
func (d *Directory) userSubject(userID string) string {
	return d.cfg.SubjectPrefix + ".u." + userToken(userID)
}

// userOf is the user a prefix.u.<token> subject names.
func (d *Directory) userOf(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, d.cfg.SubjectPrefix+".u.")
	if !ok {
		return "", false
	}
	return tokenUser(tok)
}

// userToken makes a user id one NATS subject token. Ids are phone numbers
// (digits) in practice and are used as they are; anything else (a dot or a
// wildcard would change the subject's meaning) is hex-encoded behind "=",
// which the plain form never contains, so two ids never share a token.
func userToken(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return "=" + hex.EncodeToString([]byte(id))
		}
	}
	if id == "" {
		return "="
	}
	return id
}

func tokenUser(tok string) (string, bool) {
	h, ok := strings.CutPrefix(tok, "=")
	if !ok {
		return tok, true
	}
	b, err := hex.DecodeString(h)
	return string(b), err == nil
}
